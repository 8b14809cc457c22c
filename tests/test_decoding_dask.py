"""Dask distributed: chunks and (subject, layer) jobs on workers give the local bytes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import h5py
import pytest

from brainfeat.decoding import decode_jobs, decode_layer, layer as layer_module
from brainfeat.decoding.backends import get_backend, pinned_threads, thread_count
from test_decoding_layer import SETTINGS, make_inputs

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as dask_client:
        yield dask_client


def _plain(inputs: dict) -> dict:
    """fMRI as SimpleNamespace, so workers need nothing from the test modules."""
    return {"fmri_train": SimpleNamespace(X=inputs["train"].X,
                                          stimulus_names=inputs["train"].stimulus_names),
            "fmri_test": SimpleNamespace(X=inputs["test"].X,
                                         stimulus_names=inputs["test"].stimulus_names),
            "test_features": inputs["features"]}


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_chunks_on_workers_equal_the_local_run(client, tmp_path: Path, backend: str) -> None:
    inputs = make_inputs(tmp_path, n_units=37)
    args = {**SETTINGS, **_plain(inputs), "backend": backend}
    local = decode_layer("S1", "AlexNet", "fc8", inputs["features"], tmp_path / "local.h5",
                         **args)
    spread = decode_layer("S1", "AlexNet", "fc8", inputs["features"], tmp_path / "dask.h5",
                          client=client, **args)
    assert spread.read_bytes() == local.read_bytes()


def _threads_inside_and_after(backend: str, n_threads: int) -> tuple[int, int, int]:
    """On a worker: (count before, count inside a block pinned to n_threads, count after)."""
    array = get_backend(backend)
    before = thread_count(array)
    with pinned_threads(array, n_threads):
        inside = thread_count(array)
    return before, inside, thread_count(array)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_workers_compute_with_the_pinned_thread_count(client, backend: str) -> None:
    # Dask starts workers with OMP_NUM_THREADS=1 (or the count the environment sets); a chunk
    # pinned to 3 threads runs on 3 and the worker gets its own count back.
    before, inside, after = client.submit(_threads_inside_and_after, backend, 3,
                                          pure=False).result()
    assert before != 3 and inside == 3 and after == before


def test_every_chunk_carries_the_local_thread_count(tmp_path: Path, monkeypatch) -> None:
    seen = []
    decode_chunk = layer_module.decode_chunk

    def spy(*args, **kwargs):
        seen.append(kwargs["threads"])
        return decode_chunk(*args, **kwargs)

    monkeypatch.setattr(layer_module, "decode_chunk", spy)
    inputs = make_inputs(tmp_path)
    decode_layer("S1", "AlexNet", "fc8", inputs["features"], tmp_path / "local.h5",
                 **{**SETTINGS, **_plain(inputs), "backend": "torch"})
    assert seen == [thread_count(get_backend("torch"))] * 5


def test_jobs_on_workers_equal_the_local_runs(client, tmp_path: Path) -> None:
    jobs, expected = [], []
    for seed, layer in ((1, "fc7"), (2, "fc8")):
        root = tmp_path / layer
        root.mkdir()
        inputs = make_inputs(root, seed=seed)
        with h5py.File(inputs["features"], "a") as handle:
            handle.move("layers/fc8", f"layers/{layer}")
        job = {"subject": "S2", "network": "VGG19", "layer": layer,
               "train_features": inputs["features"], **_plain(inputs)}
        expected.append(decode_layer(out=root / "local.h5", **job, **SETTINGS))
        jobs.append({**job, "out": root / "dask.h5"})
    outs = decode_jobs(jobs, client=client, **SETTINGS)
    assert [out.read_bytes() for out in outs] == [out.read_bytes() for out in expected]
