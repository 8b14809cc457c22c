"""Peak memory of a large synthetic feature extraction (prints figures; not a test).

Each measurement runs in a fresh Python process and reports its peak resident memory
(``ru_maxrss``):

* reference: build the network with random weights and run one batch, writing nothing;
* extract N: stream N synthetic images x every layer to HDF5;
* extract 2N: the same with twice the images - bounded memory means about the same peak.

It also prints what holding every feature of the run in memory at once would take.

    .venv/bin/python benchmarks/features.py                      # AlexNet, 256 images
    .venv/bin/python benchmarks/features.py --network VGG19 --images 16 --batch-size 4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _child(args: argparse.Namespace) -> None:
    import resource

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    started = time.perf_counter()
    if args.mode == "reference":
        from brainfeat.features.specs import model_spec
        from brainfeat.features.preprocess import list_images

        spec = model_spec(args.network, weights="random")
        paths = list_images(args.folder).paths[:args.batch_size]
        with torch.inference_mode():
            spec.model(torch.from_numpy(np.stack([spec.preprocess(p) for p in paths])))
    else:
        from brainfeat.features.extraction import extract
        from brainfeat.features.preprocess import list_images

        ids = list_images(args.folder).image_ids[:args.count]
        extract(args.network, args.folder, out=args.out, weights="random", image_ids=ids,
                batch_size=args.batch_size, progress=False)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mib": peak_mib, "seconds": time.perf_counter() - started}))


def _run(mode: str, args: argparse.Namespace, count: int, out: Path) -> dict:
    command = [sys.executable, __file__, "--child", mode, "--network", args.network,
               "--folder", str(args.folder), "--count", str(count), "--out", str(out),
               "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="AlexNet")
    parser.add_argument("--images", type=int, default=256, help="N (the second run uses 2N)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=["reference", "extract"], dest="mode")
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--count", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.mode:
        _child(args)
        return

    import numpy as np
    from PIL import Image

    from brainfeat.catalog import default_catalog

    units = sum(info.n_units for info in default_catalog().layers_of(args.network))
    with tempfile.TemporaryDirectory() as temp:
        args.folder = Path(temp) / "images"
        args.folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(2 * args.images):
            pixels = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(args.folder / f"n{i:08d}_1.JPEG", quality=90)
        print(f"{args.network}: {units:,} units per image over every published layer; "
              f"batch size {args.batch_size}, {args.threads} threads")
        reference = _run("reference", args, args.batch_size, Path(temp) / "none.h5")
        print(f"reference (model + one batch, nothing written): peak RSS "
              f"{reference['peak_mib']:8.0f} MiB")
        for count in (args.images, 2 * args.images):
            out = Path(temp) / f"features-{count}.h5"
            figures = _run("extract", args, count, out)
            held = count * units * 4 / 2**20
            print(f"extract {count:5d} images: peak RSS {figures['peak_mib']:8.0f} MiB, "
                  f"{figures['seconds']:6.1f} s, file {out.stat().st_size / 2**20:8.0f} MiB "
                  f"(all features in memory at once would be {held:8.0f} MiB)")
            out.unlink()


if __name__ == "__main__":
    main()
