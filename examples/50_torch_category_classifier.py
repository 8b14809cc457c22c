"""
Decoded features in a torch DataLoader: predict the category
============================================================

:class:`brainfeat.torch.DecodedFeatures` is a :class:`torch.utils.data.Dataset` of the
decoded features: each item carries the decoded (and true) features of the requested layers,
the image id, its category and the subject. Here a linear classifier learns the category of
each test image from the decoded fc8 features of four subjects and is tested on the fifth.

The data are the demo's **synthetic** replica served on 127.0.0.1 (random numbers in the
published file layout), so the accuracies below mean nothing about the brain.
"""

# %%
# The dataset and a loader with two workers
# -----------------------------------------
import tempfile

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader

from brainfeat.demo.run import fetch_replica
from brainfeat.torch import DecodedFeatures

demo = fetch_replica(tempfile.mkdtemp(prefix="brainfeat-gallery-"))
where = dict(data_dir=demo.data_dir, catalog=demo.catalog, download=False)

train = DecodedFeatures("AlexNet", "fc8", ["S1", "S2", "S3", "S4"], with_true=False, **where)
test = DecodedFeatures("AlexNet", "fc8", ["S5"], with_true=False, **where)
print(train, test, sep="\n")
item = train[0]
print({key: item[key] for key in ("image_id", "synset", "category_index", "subject")})

loader = DataLoader(train, batch_size=50, shuffle=True, num_workers=2, persistent_workers=True,
                    generator=torch.Generator().manual_seed(0))

# %%
# A linear classifier over the 50 test categories
# -----------------------------------------------
torch.manual_seed(0)
n_units, n_classes = item["decoded"]["fc8"].numel(), len(train.categories)
model = torch.nn.Sequential(torch.nn.LayerNorm(n_units), torch.nn.Linear(n_units, n_classes))
optimiser = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
losses = []
for _epoch in range(40):
    for batch in loader:
        loss = torch.nn.functional.cross_entropy(model(batch["decoded"]["fc8"]),
                                                 batch["category_index"])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())

# %%
# Accuracy on the held-out subject, against chance (1 in 50)
# ----------------------------------------------------------
with torch.no_grad():
    batch = next(iter(DataLoader(test, batch_size=len(test))))
    logits = model(batch["decoded"]["fc8"])
top1 = (logits.argmax(1) == batch["category_index"]).float().mean().item()
top5 = (logits.topk(5).indices == batch["category_index"][:, None]).any(1).float().mean().item()
print(f"S5: top-1 {top1:.2f} (chance {1 / n_classes:.2f}), top-5 {top5:.2f} "
      f"(chance {5 / n_classes:.2f})")

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(losses)
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy (training)")
ax.set_title("SYNTHETIC replica: decoded fc8 -> category")
fig.tight_layout()
