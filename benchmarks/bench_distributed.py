"""``ttfs evaluate`` on one CPU process against two (``torchrun --nproc-per-node 2``): wall time ratio.

The same evaluation (a timm ViT with random weights saved as a checkpoint,
an image folder of PNGs written here, a conversion made once) runs as

* ``python -m ttfs_symbolic evaluate ... --threads 1`` (one process, one thread), and
* ``torchrun --nproc-per-node 2 -m ttfs_symbolic evaluate ...`` (two processes, one thread each),

alternately ``--rounds`` times, after one uncounted single-process run
(which compiles the native loops on first use). Reported: the median wall time of each whole
command (Python start, imports, model build, data, evaluation, reductions,
files) and of the evaluation as the command measures it
(``evaluation_seconds`` in report.json: the pass over the data, image
decoding included, to the end of the reductions over the ranks), and the ratios
two / one. The two runs' results must be identical (checked); nothing is
asserted about speed. On a machine with fewer free cores than processes the
ratio says so: the load average is recorded.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, table, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(root: Path, args):
    import numpy as np
    import timm
    import torch
    from PIL import Image

    torch.manual_seed(0)
    kw = dict(img_size=args.img_size, patch_size=args.patch, embed_dim=args.dim, depth=args.depth,
              num_heads=args.heads, num_classes=args.classes)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, **kw).eval()
    torch.save(model.state_dict(), root / "model.pt")
    rng = np.random.default_rng(0)
    for i in range(args.images):
        c = i % args.classes
        d = root / "images" / f"class_{c:02d}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (args.img_size, args.img_size, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return ["--model-kwargs"] + [f"{k}={v}" for k, v in kw.items()]


def run(cmd, env) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{res.stderr[-3000:]}")
    return dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--img-size", type=int, default=64)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--dim", type=int, default=96)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--heads", type=int, default=3)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--modes", default="exact,quantized,kernel")
    ap.add_argument("--precision", default="256,1024")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None, help="write all results to this JSON file")
    args = ap.parse_args(argv)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        kwargs = prepare(root, args)
        conv = root / "conv.json"
        run([py, "-m", "ttfs_symbolic", "convert", "vit_tiny_patch16_224", "--checkpoint", str(root / "model.pt"),
             "--calib", str(root / "images"), "--out", str(conv), "--no-progress", "--threads", "1"] + kwargs, env)
        common = ["evaluate", "vit_tiny_patch16_224", "--checkpoint", str(root / "model.pt"), "--conversion",
                  str(conv), "--data", str(root / "images"), "--modes", args.modes, "--precision", args.precision,
                  "--batch-size", str(args.batch_size), "--no-progress", "--threads", "1"] + kwargs
        # warm-up, not counted: the first run compiles the native loops into their cache folder
        run([py, "-m", "ttfs_symbolic"] + common + ["--out", str(root / "warmup")], env)
        wall = {1: [], 2: []}
        inner = {1: [], 2: []}
        results = {}
        start = machine_info()
        for r in range(args.rounds):
            for n in ((1, 2) if r % 2 == 0 else (2, 1)):
                out = root / f"eval{n}"
                if n == 1:
                    cmd = [py, "-m", "ttfs_symbolic"] + common + ["--out", str(out)]
                else:
                    cmd = [py, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
                           "--master-port", str(free_port()), "-m", "ttfs_symbolic"] + common + ["--out", str(out)]
                wall[n].append(run(cmd, env))
                rep = json.loads((out / "report.json").read_text())
                inner[n].append(rep["evaluation_seconds"])
                results[n] = rep["results"]
                print(f"round {r + 1}, {n} process(es): {wall[n][-1]:.2f} s wall, {inner[n][-1]:.2f} s evaluation",
                      flush=True)
        same = results[1] == results[2]
    med = {k: {n: statistics.median(v[n]) for n in (1, 2)} for k, v in (("wall", wall), ("evaluation", inner))}
    rows = [[what, f"{med[what][1]:.2f} s", f"{med[what][2]:.2f} s", f"{med[what][2] / med[what][1]:.2f}x"]
            for what in ("wall", "evaluation")]
    print()
    print(f"{args.images} images {args.img_size} px, ViT dim {args.dim} depth {args.depth}, modes {args.modes}, "
          f"p {args.precision}, batch {args.batch_size}; median of {args.rounds} rounds; one thread per process")
    print(table(rows, ["time", "1 process", "2 processes", "2 / 1"]))
    print(f"identical results: {same}")
    end = machine_info()
    print(f"load average at start {start.get('loadavg_1_5_15')}, at end {end.get('loadavg_1_5_15')}, "
          f"{end['cpu_count']} CPUs")
    write_json(args.json, {"args": vars(args), "machine_start": start, "machine_end": end, "wall_s": wall,
                           "evaluation_s": inner, "median": med, "identical_results": same})
    return 0


if __name__ == "__main__":
    sys.exit(main())
