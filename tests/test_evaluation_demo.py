"""The demo's last step: brainfeat.verify on the fetched synthetic replica."""

from __future__ import annotations

import json
from pathlib import Path

from brainfeat.demo.run import fetch_replica, verify_replica
from brainfeat.evaluation.facts import RANK_POLICIES


def test_demo_replica_verifies_and_writes_the_report(tmp_path: Path) -> None:
    data = fetch_replica(tmp_path / "demo")
    report = verify_replica(data)
    assert report.ok, report.problems
    assert report.synthetic and report.figure2_note == "not applicable (synthetic)"
    layers = {(layer.network, layer.layer) for layer in report.layers}
    assert layers == {(info.network.value, info.name) for info in data.catalog.layers}
    assert len(report.subject_checks) == len(layers) * (len(data.catalog.subjects) + 1)
    # The replica documents its convention: rank 1 = best, NaN accuracy -> NaN rank.
    expected = next(p for p in RANK_POLICIES if p.descending and p.nan == "keep" and p.base == 1)
    assert report.rank_policy == expected.label and report.finding("rank").settled
    assert report.finding("averaged").settled
    assert report.finding("mat").conclusion.count("files") == 2  # v5 and v7.3 both met
    out = data.work_dir / "verification"
    assert json.loads((out / "verification.json").read_text())["ok"] is True
    assert (out / "verification.html").is_file()
    for network in data.catalog.networks:
        assert (out / "figures" / f"figure2-{network.value}.png").is_file()
