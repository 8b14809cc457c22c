"""
Regenerating features with Caffe-exact AlexNet
==============================================

:func:`brainfeat.features.extract` runs the paper's Caffe AlexNet (96-channel conv1, LRN,
grouped convolutions) in torch with Caffe's preprocessing (whole image resized to 227,
BGR, 0-255, mean subtracted) and writes every published layer, before the ReLU, to one HDF5
file. With the real weights (a ``.caffemodel``) the numbers match the published ``true``
features; here the weights are **random** and the images are a few generated ones, so the
example runs offline in seconds.
"""

# %%
# A few generated images, named like ImageNet stimuli
# ---------------------------------------------------
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from brainfeat.features import extract, read_extracted

torch.manual_seed(0)
folder = Path(tempfile.mkdtemp(prefix="brainfeat-images-"))
rng = np.random.default_rng(0)
for name in ["n01443537_22563", "n01621127_19020", "n01677366_18182"]:
    pixels = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / f"{name}.JPEG")

# %%
# Extract every published layer
# -----------------------------
path = extract("AlexNet", folder, out=folder / "alexnet-random.h5", weights="random",
               device="cpu", progress=False)
for layer in ["conv1", "conv5", "fc6", "fc8"]:
    features = read_extracted(path, layer)
    print(f"{layer}: values {features.values.shape}, units {features.unit_shape}, "
          f"min {features.values.min():.2f} (negative: taken before the ReLU)")

# %%
# conv1 maps of the first image
# -----------------------------
conv1 = read_extracted(path, "conv1")
maps = conv1.values[0].reshape(conv1.unit_shape)
fig, axes = plt.subplots(2, 6, figsize=(9, 3.2), layout="constrained")
for channel, ax in enumerate(axes.flat):
    ax.imshow(maps[channel], cmap="RdBu_r")
    ax.set_title(f"channel {channel}", fontsize=8)
    ax.set_axis_off()
fig.suptitle(f"conv1 of {conv1.image_ids[0]} (random weights)")
