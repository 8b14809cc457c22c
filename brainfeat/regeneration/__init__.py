"""The regeneration loop: images, weights and fMRI -> decoded features, accuracies and ranks.

A stage above :mod:`brainfeat.features` and :mod:`brainfeat.decoding`: one Dask task graph
built out of their public functions (feature extraction, one decoder per unit per subject,
the Averaged subject, scores), written in the published layout with a manifest.

The package is named ``regeneration`` (not ``regenerate``) so that the function
``brainfeat.regenerate`` is never shadowed by a module of the same name::

    import brainfeat
    result = brainfeat.regenerate("AlexNet", "stimuli/", out="regenerated/")
    brainfeat.load("accuracy", "AlexNet", "fc8", "S1", data_dir="regenerated/", download=False)
"""

from __future__ import annotations

from brainfeat.regeneration.loop import Regeneration, regenerate
from brainfeat.regeneration.plan import Plan, plan_regeneration

__all__ = ["Plan", "Regeneration", "plan_regeneration", "regenerate"]
