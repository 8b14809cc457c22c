"""
Figure 2: unit accuracies, S1 vs S2, inter-subject correlation
==============================================================

Figure 2 of Horikawa et al. (2019) drawn from the accuracy files alone:

* a, per layer, the pooled unit accuracies of S1-S5 (violin) and their mean (black bar);
* b, S1 against S2 for at most 1,000 random units per layer;
* c, per layer, the 10 inter-subject correlations of unit accuracies and their mean.

Here from the demo's **synthetic** replica: random numbers, not the published data.
"""

# %%
import tempfile

from brainfeat.demo.run import fetch_replica
from brainfeat.evaluation.figures import figure2
from brainfeat.evaluation.report import figure2_statistics

demo = fetch_replica(tempfile.mkdtemp(prefix="brainfeat-gallery-"))
stats = figure2_statistics("AlexNet", data_dir=demo.data_dir, catalog=demo.catalog,
                           download=False, progress=False)

# %%
# The statistics behind the figure, one row per layer
for layer in stats:
    print(f"{layer.network} {layer.layer}: mean accuracy {layer.mean_accuracy:.3f} over "
          f"{layer.n_scored} units x subjects, mean inter-subject r {layer.mean_intersubject:.3f}")

# %%
# The figure (a :class:`matplotlib.figure.Figure`, built without pyplot)
figure = figure2(stats, synthetic=True)
