"""
One-call loading and labelled arrays
====================================

``brainfeat.load`` downloads a layer's zip once, verifies it, reads every ``.mat`` file and
returns a typed result whose rows are labelled by image and whose units know their shape.

Here the "figshare" server is a local one serving the demo's **synthetic** replica (random
numbers with the published file layout), so the example runs offline.
"""

# %%
# Fetch the replica through the real download path
# -------------------------------------------------
# ``brainfeat.demo.run.fetch_replica`` writes the replica, serves it on 127.0.0.1 and
# fetches every zip into a data folder. Its ``catalog`` describes the replica's small layers;
# every brainfeat call takes it as ``catalog=`` (on the real data, leave it out).
import tempfile

import numpy as np

import brainfeat
from brainfeat.demo.run import fetch_replica

demo = fetch_replica(tempfile.mkdtemp(prefix="brainfeat-gallery-"))
where = dict(data_dir=demo.data_dir, catalog=demo.catalog, download=False)
print([f"{info.network.value} {info.name} {info.unit_shape}" for info in demo.catalog.layers])

# %%
# Decoded and true features: one call each
# ----------------------------------------
decoded = brainfeat.load("decoded", "AlexNet", "conv1", subject="S1", **where)
true = brainfeat.load("true", "AlexNet", "conv1", **where)
print(decoded.summary())
print(true.summary())
print("first images:", decoded.image_ids[:3])
print("values", decoded.values.shape, decoded.values.dtype, "| unit grid", decoded.unit_shape)

# %%
# Same images, same order: rows line up without any bookkeeping.
assert decoded.image_ids == true.image_ids

# %%
# Units back on their grid, and a labelled :class:`xarray.DataArray`
# ------------------------------------------------------------------
maps = decoded.reshape_units()                 # (image, channel, height, width)
print(maps.shape)
labelled = decoded.to_xarray()
print(dict(labelled.sizes))
print(labelled.coords["image"].values[:3], labelled.attrs["citation"])
print(float(labelled.sel(image=decoded.image_ids[0], channel=0, y=0, x=0)))

# %%
# Accuracies and ranks of one subject
# -----------------------------------
accuracy = brainfeat.load("accuracy", "AlexNet", "conv1", subject="S1", **where)
rank = brainfeat.load("rank", "AlexNet", "conv1", subject="S1", **where)
print(accuracy.summary())
best = int(np.nanargmax(accuracy.values))  # NaN: a unit whose true values are constant
print("best unit:", best, "accuracy", round(float(accuracy.values[best]), 3),
      "| its published rank:", rank.values[best])
