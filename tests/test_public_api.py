"""Every name that ``brainfeat`` promises resolves to a documented object."""

import pytest

import brainfeat


@pytest.mark.parametrize("name", brainfeat.__all__)
def test_public_name_resolves_and_is_documented(name):
    value = getattr(brainfeat, name)
    if callable(value):
        assert value.__doc__ and value.__doc__.strip(), f"brainfeat.{name} has no docstring"


@pytest.mark.parametrize("name", sorted(brainfeat._LAZY))
def test_lazy_name_is_defined_in_the_agreed_module(name):
    assert getattr(brainfeat, name).__module__ == brainfeat._LAZY[name]
    assert name in brainfeat.__all__ and name in dir(brainfeat)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        brainfeat.nonexistent  # noqa: B018


@pytest.mark.parametrize("package", ["brainfeat", "brainfeat.features"])
def test_no_submodule_shadows_a_lazy_name(package):
    """Importing a submodule sets it as the package's attribute: it must not hide a public name."""
    import importlib
    import pkgutil
    import types

    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        if info.name != "__main__":  # runs the CLI
            importlib.import_module(f"{package}.{info.name}")
    for name in module._LAZY:
        assert not isinstance(getattr(module, name), types.ModuleType), (
            f"{package}.{name} is a submodule, not the public {name!r}: rename the submodule")
