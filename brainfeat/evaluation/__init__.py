"""Verification of the published accuracies and ranks, and Figure 2.

* :mod:`brainfeat.evaluation.metrics` -- accuracy (per-unit Pearson r), rank, the Averaged
  subject, inter-subject correlation, pairwise identification.
* :mod:`brainfeat.evaluation.report` -- :func:`~brainfeat.evaluation.report.verify`, which
  recomputes every published number and says which agree.
* :mod:`brainfeat.evaluation.figures` -- Figure 2 (matplotlib, imported on use).
"""
