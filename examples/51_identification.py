"""
Identification: pairwise, n-way, and category (perception vs imagery)
=====================================================================

Identification asks whether decoded features single out the right image (or category)
among candidates, as the Kamitani lab defines it
(:mod:`brainfeat.evaluation.identification`):

* **pairwise**: per image, the fraction of the other test images whose true features are
  less correlated with the decoded features than its own (chance 0.5);
* **n-way top-k**: the true image and ``n - 1`` random distractors (seeded); a hit when the
  true image is among the ``k`` most correlated (chance ``k / n``);
* **category** (Horikawa & Kamitani 2017): decoded features against category-averaged
  candidate features, the true category plus false ones (chance 0.5); perception and
  imagery are scored separately.

The data are the demo's **synthetic** replica (random numbers in the published layout).
"""

# %%
# Pairwise and n-way identification of every subject and layer
# -------------------------------------------------------------
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import brainfeat
from brainfeat.demo.run import fetch_replica
from brainfeat.evaluation.identification import category_identification

demo = fetch_replica(tempfile.mkdtemp(prefix="brainfeat-gallery-"))
where = dict(data_dir=demo.data_dir, catalog=demo.catalog, download=False)

pairwise = brainfeat.identify("AlexNet", **where)
print(pairwise.format_table())
nway = brainfeat.identify("AlexNet", ["fc8"], method="nway", n_way=10, top_k=1, seed=0, **where)
print(nway.format_table())

# %%
# Every image's score is one row of a tidy table.
print(pairwise.to_frame().head())

# %%
# Category identification, perception and imagery scored separately
# ------------------------------------------------------------------
# Candidates are category-averaged features: here the 50 test categories (one image each,
# so the true features themselves) plus 200 further categories. On the real data they come
# from category averages of features extracted with ``brainfeat.features.extract`` or from
# the ``ImageFeatures.h5`` of the Generic Object Decoding release
# (:func:`brainfeat.evaluation.god_candidates.god_category_features`, AlexNet fc8 only).
true = brainfeat.load("true", "AlexNet", "fc8", **where)
rng = np.random.default_rng(0)
extra = rng.normal(true.values.mean(0), true.values.std(0), size=(200, true.n_units))
candidates = np.vstack([true.values, extra])
synsets = [image.split("_")[0] for image in true.image_ids]
candidate_synsets = synsets + [f"n9{k:07d}" for k in range(200)]

perception = brainfeat.load("decoded", "AlexNet", "fc8", "S1", **where).values
# The published files hold perception only. Imagery decoded features come from decoding the
# imagery fMRI (brainfeat.load_fmri(subject, split="imagery")); this stand-in is the
# perception features with more noise, to show the call, nothing more.
imagery = perception + rng.normal(scale=3 * perception.std(), size=perception.shape)

scores = {condition: category_identification(decoded, synsets, candidates, candidate_synsets)
          for condition, decoded in (("perception", perception), ("imagery (stand-in)", imagery))}
for condition, score in scores.items():
    print(f"{condition}: mean correct rate {score.mean():.3f} over {len(score)} categories")

fig, ax = plt.subplots(figsize=(5, 3))
ax.boxplot(list(scores.values()), tick_labels=list(scores))
ax.axhline(0.5, color="grey", linestyle="--", label="chance")
ax.set_ylabel("correct rate")
ax.set_title("SYNTHETIC replica: category identification, S1 fc8")
ax.legend()
fig.tight_layout()
