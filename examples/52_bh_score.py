"""
Brain-hierarchy (BH) score of two models
========================================

The BH score (Nonaka et al. 2021) asks whether a network's layers line up with the visual
hierarchy: each unit is decoded from V1, V2, V3, V4 and HVC; its *top ROI* is where it is
decoded best, counted only if that r is positive and significant (p < 0.05, t-test with 48
degrees of freedom over the 50 test images); the score is the Spearman correlation between
layer position and top-ROI position over the counted units.

:func:`brainfeat.evaluation.hierarchy.bh_score` takes per-ROI accuracy arrays of every unit
(the output of decoding each ROI, e.g. with the regeneration loop). Here the accuracies are
**synthetic**: model A has a hierarchy built in, model B has none.
"""

# %%
# Synthetic per-ROI accuracies of two eight-layer models
# ------------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np

from brainfeat.evaluation.hierarchy import BH_ROIS, bh_score

rng = np.random.default_rng(0)
layers = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]


def synthetic_accuracy(hierarchical: bool) -> dict[str, dict[str, np.ndarray]]:
    """Per layer and ROI, r of 500 units: peaked at a preferred ROI, plus noise."""
    accuracy = {}
    for depth, layer in enumerate(layers):
        centre = depth / (len(layers) - 1) * (len(BH_ROIS) - 1) if hierarchical else 2.0
        preferred = np.clip(rng.normal(centre, 1.0, size=500), 0, len(BH_ROIS) - 1)
        strength = rng.uniform(0.0, 0.6, size=500)
        accuracy[layer] = {
            roi: strength * np.exp(-0.5 * (k - preferred) ** 2) + rng.normal(0, 0.05, 500)
            for k, roi in enumerate(BH_ROIS)}
    return accuracy


scores = {name: bh_score(synthetic_accuracy(hierarchical), model=name)
          for name, hierarchical in (("model A", True), ("model B", False))}
for result in scores.values():
    print(result)

# %%
# The per-layer table: counted units and where their top ROI lies
# ---------------------------------------------------------------
print(scores["model A"].to_frame().round(3).to_string())

# %%
# One figure per model
# --------------------
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for ax, result in zip(axes, scores.values()):
    result.plot(ax=ax)
fig.tight_layout()
