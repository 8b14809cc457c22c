"""OpenNeuro ds001246 in BIDS: event tables of every release, the tree, the design check.

* :func:`read_events` — one ``*_events.tsv`` of any release, normalised;
* :func:`load_events` — every run of one subject and split in one table;
* :func:`open` — a local tree (fetched, or a DataLad clone without image content) via pybids;
* :func:`check_design` — runs per session and stimulus counts against the catalog.

pybids is imported only when :func:`open` is called.
"""

from __future__ import annotations

from brainfeat.bids.design import DesignReport, Deviation, check_design
from brainfeat.bids.events import load_events, read_events
from brainfeat.bids.layout import BIDSDataset, open

__all__ = ["BIDSDataset", "DesignReport", "Deviation", "check_design", "load_events", "open",
           "read_events"]
