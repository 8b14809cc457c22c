"""
Decoding a layer with fastl2lir's settings
==========================================

The published decoders are the lab's fastl2lir: for each DNN unit, a ridge regression on the
500 voxels most correlated with it, ``alpha = 100``, a bias column that the penalty covers too,
X and Y z-scored with the training statistics. :class:`brainfeat.decoding.VoxelSelectRidge`
computes the same numbers for many units at once.

Here on **synthetic** fMRI: voxels that carry a noisy linear mix of hidden unit values.
"""

# %%
# Synthetic training and test data
# --------------------------------
import matplotlib.pyplot as plt
import numpy as np

from brainfeat.decoding import VoxelSelectRidge
from brainfeat.evaluation.metrics import unit_correlation

rng = np.random.default_rng(0)
n_train, n_test, n_voxels, n_units = 1200, 50, 1000, 64
mixing = rng.standard_normal((n_units, n_voxels)) * (rng.random(n_voxels) < 0.3)
Y_train = rng.standard_normal((n_train, n_units))
Y_test = rng.standard_normal((n_test, n_units))
X_train = Y_train @ mixing + 10.0 * rng.standard_normal((n_train, n_voxels))
X_test = Y_test @ mixing + 10.0 * rng.standard_normal((n_test, n_voxels))

# %%
# The published settings
# ----------------------
decoder = VoxelSelectRidge(alpha=100.0, n_voxels=500, normalize=True).fit(X_train, Y_train)
decoded = decoder.predict(X_test)
accuracy = unit_correlation(decoded, Y_test)   # Pearson r per unit over the test samples
print(f"decoded {decoded.shape}; voxels per unit {decoder.voxel_index_.shape[1]}; "
      f"mean accuracy {np.nanmean(accuracy):.3f}")

# %%
# The same numbers as fastl2lir, written out for one unit
# -------------------------------------------------------
# fastl2lir's steps (``normalize=False`` is fastl2lir itself): the voxels of largest
# ``|r|`` with the unit, a bias column of ones, and ``(X_S^T X_S + alpha I) [w; b] = X_S^T y``.
raw = VoxelSelectRidge(alpha=100.0, n_voxels=500).fit(X_train, Y_train)
unit = 7
r = np.array([np.corrcoef(X_train[:, v], Y_train[:, unit])[0, 1] for v in range(n_voxels)])
selected = np.sort(np.argsort(-np.abs(r))[:500])
X_s = np.hstack([X_train[:, selected], np.ones((n_train, 1))])
w = np.linalg.solve(X_s.T @ X_s + 100.0 * np.eye(501), X_s.T @ Y_train[:, unit])
by_hand = np.hstack([X_test[:, selected], np.ones((n_test, 1))]) @ w
print("same voxels:", np.array_equal(selected, raw.voxel_index_[unit]))
print(f"largest difference of predictions: {np.max(np.abs(by_hand - raw.predict(X_test)[:, unit])):.2e}")

# %%
# Accuracy of every unit
# ----------------------
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.hist(accuracy, bins=20, color="#9db4d6", edgecolor="#4a6a9a")
ax.axvline(np.nanmean(accuracy), color="black", linewidth=2, label="mean")
ax.set_xlabel("decoding accuracy (Pearson r over 50 test samples)")
ax.set_ylabel("units")
ax.legend()
