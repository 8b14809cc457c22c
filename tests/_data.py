"""Where the tests find the real published material copied into the repository.

``tests/data`` holds small, real published files (see ``tests/data/PROVENANCE.md``): the
text files of OpenNeuro ds001246 for sub-01 and sub-02, three historical event-table schemas
and the Generic Object Decoding stimulus lists. They are part of the repository, so no test
skips for want of them.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
#: ds001246 release 1.2.1: sub-01/02 event tables and sidecars, annex-keys.tsv, text-hashes.tsv
DS001246 = DATA / "ds001246"
#: one run of sub-01 as three earlier releases of ds001246 published it
EVENT_SCHEMAS = DATA / "ds001246-event-schemas"
#: stimulus_ImageNetTraining.tsv, stimulus_ImageNetTest.tsv, category_GODImagery.tsv, ...
GOD_STIMULI = DATA / "god-stimuli"
