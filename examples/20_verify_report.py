"""
Verifying the published numbers and reading the report
=======================================================

:func:`brainfeat.verify` recomputes every accuracy (Pearson r of decoded vs true features over
the 50 test images) and every rank, compares them number by number with the published files,
and settles the dataset's open facts from the files themselves: the rank convention, what
``Averaged`` is, pre- or post-ReLU features, the ``.mat`` flavours.

Run here on the demo's **synthetic** replica, served from 127.0.0.1.
"""

# %%
# Fetch the replica and verify its AlexNet layers
# -----------------------------------------------
import tempfile
from pathlib import Path

import brainfeat
from brainfeat.demo.run import fetch_replica

demo = fetch_replica(tempfile.mkdtemp(prefix="brainfeat-gallery-"))
out = Path(tempfile.mkdtemp(prefix="brainfeat-verification-"))
report = brainfeat.verify("AlexNet", data_dir=demo.data_dir, catalog=demo.catalog,
                          download=False, out_dir=out, progress=False)

# %%
# The terminal table: one row per layer and subject
# -------------------------------------------------
print(report.format_table())

# %%
# Did everything agree?
# ---------------------
# ``ok`` is True when every check agreed and nothing was missing; ``problems`` lists each
# disagreement with its network, layer and subject.
print("every check agreed:", report.ok)
print("problems:", list(report.problems))

# %%
# The open facts, settled from the files
# --------------------------------------
for finding in report.findings:
    print(f"[{finding.topic}] {'settled' if finding.settled else 'NOT settled'}: "
          f"{finding.conclusion}\n    evidence: {finding.evidence}")

# %%
# One check in detail, and the whole report as a table
# ----------------------------------------------------
check = report.subject_checks[0]
print(check)
frame = report.to_frame()
print(frame.head())

# %%
# Files written: a JSON file, a self-contained HTML report, Figure 2 as PNG and SVG.
print(sorted(Path(path).name for path in report.outputs.values()))
