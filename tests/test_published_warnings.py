"""The (H, W, C) warning of `brainfeat.published` points at the caller's line.

Kept out of the mutation selection (``scripts/mutate.py``'s ``CORE``): mutmut calls every
mutated function through a trampoline, one more stack frame per call, so ``stacklevel``
cannot be checked there.
"""

from __future__ import annotations

import pytest
from test_mutants_published import CATALOG, IMAGES, Fetcher, _save, expected_feat

import brainfeat


def test_hwc_warnings_name_the_callers_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("brainfeat.remote.api.fetch", Fetcher(tmp_path))
    grid = expected_feat(None, (3, 2, 4))
    for row, image in enumerate(IMAGES):
        _save(tmp_path, "true", f"true-AlexNet-conv1-{image}.mat",
              grid[row].reshape(3, 2, 4).transpose(1, 2, 0))
    _save(tmp_path, "accuracy", "accuracy-AlexNet-conv1-S1.mat",
          grid[0].reshape(3, 2, 4).transpose(1, 2, 0))
    with pytest.warns(UserWarning, match=r"\(H, W, C\)") as features:
        brainfeat.load_features("true", "AlexNet", "conv1", catalog=CATALOG)
    with pytest.warns(UserWarning, match=r"\(H, W, C\)") as accuracy:
        brainfeat.load_accuracy("AlexNet", "conv1", "S1", catalog=CATALOG)
    with pytest.warns(UserWarning, match=r"\(H, W, C\)") as loaded:
        brainfeat.load("accuracy", "AlexNet", "conv1", "S1", catalog=CATALOG)
    caught = [*features, *accuracy, *loaded]
    assert [w.filename for w in caught] == [__file__] * (len(IMAGES) + 2)
