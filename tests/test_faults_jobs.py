"""Long jobs killed with SIGKILL at chosen moments resume to the bytes of an uninterrupted run.

Each child process runs ``decode_layer`` or ``features.extract`` and kills itself with a
real ``kill -9`` at one moment: while the new file's header is being written, after the
header is complete but before it is renamed into place, and between a block's data and
its checkpoint flag. A rerun in this process must end with a file equal byte for byte to
an uninterrupted run, and leave no temporary or lock file behind. A second writer of the
same output, and an output HDF5 cannot open, end in BrainfeatErrors that say what to do.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from brainfeat.errors import FormatError, OutputLockedError
from brainfeat.io.jobfile import lock_path, partial_path

from test_decoding_layer import make_inputs, run

TESTS = Path(__file__).parent

# (moment, patched callable, the call that kills): create_dataset number 2 is inside the
# header; os.replace is the rename of the complete header; flush number 1 follows the
# first block's data, before its checkpoint flag is set.
MOMENTS = {"header": ("h5py.Group.create_dataset", 2), "rename": ("os.replace", 1),
           "checkpoint": ("h5py.File.flush", 1)}

CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import h5py
    sys.path.insert(0, {tests!r})
    import test_faults_jobs as jobs
    owner, name = {target!r}.rsplit(".", 1)
    owner = {{"h5py.Group": h5py.Group, "h5py.File": h5py.File, "os": os}}[owner]
    original, calls = getattr(owner, name), []
    def killing(*args, **kwargs):
        calls.append(1)
        if len(calls) == {count}:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)
    setattr(owner, name, killing)
    jobs.JOBS[{job!r}](Path({root!r}), Path({out!r}))
""")


HOLDER = textwrap.dedent("""
    import time
    from pathlib import Path
    from brainfeat.io.jobfile import exclusive_output
    with exclusive_output(Path({out!r})):
        print("locked", flush=True)
        time.sleep(120)
""")


def tiny_model():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(),
                               torch.nn.Linear(2 * 6 * 6, 3))


def tiny_transform(image):
    import torch

    return torch.from_numpy(np.asarray(image.resize((8, 8)), np.float32).transpose(2, 0, 1))


def run_extract(root: Path, out: Path) -> Path:
    """torch is imported here only, so that the decoding children start without it."""
    from PIL import Image

    from brainfeat.features.extraction import extract

    folder = root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(5):
        pixels = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"n0{i}_1.png")
    return extract(tiny_model(), folder, layers=["0", "2"], out=out, batch_size=2,
                   transform=tiny_transform, progress=False)


def run_decode(root: Path, out: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return run(make_inputs(root), out)


JOBS = {"decode": run_decode, "extract": run_extract}


@pytest.mark.parametrize("job", sorted(JOBS))
def test_killed_at_every_chosen_moment_resumes_to_the_same_bytes(job: str, tmp_path: Path) -> None:
    if job == "extract":
        pytest.importorskip("torch")
    whole = JOBS[job](tmp_path / "whole", tmp_path / "whole.h5")
    children = {}
    # The header is written by the same code for both jobs (brainfeat.io.jobfile): killing
    # extract inside it again would only repeat the decoding case.
    moments = [m for m in MOMENTS if job == "decode" or m != "header"]
    for moment in moments:  # the children run side by side
        target, count = MOMENTS[moment]
        out = tmp_path / f"{moment}.h5"
        script = CHILD.format(tests=str(TESTS), target=target, count=count, job=job,
                              root=str(tmp_path / moment), out=str(out))
        children[moment] = (out, subprocess.Popen([sys.executable, "-c", script],
                                                  stderr=subprocess.PIPE, text=True))
    for moment, (out, child) in children.items():
        _, stderr = child.communicate(timeout=120)
        assert child.returncode == -9, f"{moment}: the child was not killed\n{stderr}"
        # A kill before the rename leaves no output at all; later, a resumable one.
        assert out.exists() == (moment == "checkpoint"), moment
        resumed = JOBS[job](tmp_path / moment, out)
        assert resumed.read_bytes() == whole.read_bytes(), moment
        assert not partial_path(out).exists() and not lock_path(out).exists(), moment


def test_a_second_writer_is_refused_with_the_lock_named(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "out.h5"
    inputs = make_inputs(tmp_path)
    holder = subprocess.Popen(  # another process, holding the output as a running job does
        [sys.executable, "-c", HOLDER.format(out=str(out))], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputLockedError, match=f"another process.*{lock_path(out)}"):
            run(inputs, out)
        with pytest.raises(OutputLockedError, match=str(lock_path(out))):
            run_extract(tmp_path / "x", out)
        assert not out.exists()
    finally:
        holder.kill()  # SIGKILL: the operating system releases the lock
        holder.wait()
    assert lock_path(out).exists()  # left behind by the killed holder, and harmless:
    run(inputs, out)
    assert not lock_path(out).exists()
    with h5py.File(out) as handle:
        assert handle["chunks_done"][()].all()


def test_an_output_hdf5_cannot_open_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    inputs = make_inputs(tmp_path)
    out = tmp_path / "damaged.h5"
    out.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(300))  # an HDF5 signature, no valid header
    with pytest.raises(FormatError, match=f"{out}.*cannot be opened to resume.*Delete it"):
        run(inputs, out)
    with pytest.raises(FormatError, match="overwrite=True"):
        run_extract(tmp_path / "x", out)
    assert run_extract(tmp_path / "x", tmp_path / "fresh.h5").exists()
