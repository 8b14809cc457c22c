"""Every name that ``brainfeat`` promises resolves to a documented object."""

import pytest

import brainfeat


@pytest.mark.parametrize("name", brainfeat.__all__)
def test_public_name_resolves_and_is_documented(name):
    value = getattr(brainfeat, name)
    if callable(value):
        assert value.__doc__ and value.__doc__.strip(), f"brainfeat.{name} has no docstring"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        brainfeat.nonexistent  # noqa: B018
