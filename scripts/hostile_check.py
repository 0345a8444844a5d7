"""Run the user-workflow hostile corpus of issue 21, each case in a fresh process, and count the failures.

    python scripts/hostile_check.py [--root DIR] [--only REGEX] [--timeout S] [--json FILE]

The cases are those of ``tests/hardening/hostile_corpus.py`` (``WORKFLOW_CLI``,
``WORKFLOW_API``, ``WORKFLOW_TORCHRUN``), run on the files of
``build_fixtures(DIR)``. A case passes when it ends as the corpus says:

* command line: exit code 2 within the timeout, no traceback, every stderr
  line a ``ttfs ...`` line, the last one the error matching the case's pattern;
* API: the error (ValueError or TypeError, one line) matching the pattern,
  or, for a correct-answer case, no error (the case asserts the answer);
* torchrun (2 gloo ranks): a non-zero exit within the timeout, the ranks'
  one-line error matching the pattern, no traceback through ttfs_symbolic or
  gloo (torchrun's own launcher summary is allowed).

A hang (the timeout), a crash by a signal (SIGBUS, SIGABRT) or a silent
success all count as failures. The interpreter and ``PYTHONPATH`` are this
process's: run it with another checkout's code on ``PYTHONPATH`` to measure
that code. Exit status: 0 when every case passes, else 1.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests" / "hardening"
sys.path.insert(0, str(TESTS))

import hostile_corpus as hc  # noqa: E402

API_RUNNER = """
import sys, warnings
sys.path.insert(0, {tests!r})
warnings.simplefilter("ignore")
import hostile_corpus as hc
fn = dict((c[0], c[1]) for c in hc.WORKFLOW_API)[{name!r}]
try:
    fn({root!r})
except (ValueError, TypeError) as exc:
    print("RAISED " + type(exc).__name__ + ": " + str(exc))
    sys.exit(3)
print("RETURNED")
"""


def _run(cmd, timeout, env=None):
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        return r.returncode, r.stdout, r.stderr, time.perf_counter() - t0
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return None, out, err, time.perf_counter() - t0


def _cli_verdict(rc, err, command, pattern) -> str | None:
    """None when the case passed, else why not."""
    if rc is None:
        return "timed out (hang)"
    if rc < 0:
        return f"killed by signal {-rc}"
    lines = err.strip().splitlines()
    if rc == 0:
        return "exit 0: no error (silently accepted)"
    if "Traceback" in err:
        return f"exit {rc} with a traceback: {lines[-1][:160] if lines else ''}"
    if rc != 2 or not lines or not all(line.startswith("ttfs ") for line in lines):
        return f"exit {rc}, not one line: {err.strip()[:200]!r}"
    if not lines[-1].startswith(f"ttfs {command}: error: ") or not re.search(pattern, lines[-1]):
        return f"wrong message: {lines[-1][:200]}"
    return None


def _api_verdict(rc, out, err, pattern) -> str | None:
    if rc is None:
        return "timed out (hang)"
    if rc < 0:
        return f"killed by signal {-rc}"
    raised = next((line for line in out.splitlines() if line.startswith("RAISED ")), None)
    if pattern is None:
        if rc == 0 and "RETURNED" in out:
            return None
        tail = (raised or (err.strip().splitlines() or [""])[-1])[:200]
        return f"wrong answer or error: {tail}"
    if rc == 0:
        return "no error (silently accepted)"
    if raised is None:
        return f"exit {rc} without the expected error: {(err.strip().splitlines() or [''])[-1][:200]}"
    if not re.search(pattern, raised):
        return f"wrong message: {raised[:200]}"
    return None


def _torchrun_verdict(rc, err, pattern) -> str | None:
    if rc is None:
        return "timed out (hang)"
    if rc == 0:
        return "exit 0: the ranks went on"
    if not re.search(pattern, err):
        ours = [line for line in err.splitlines() if line.startswith("ttfs ")]
        return f"expected message missing: {' | '.join(ours)[:200] or err.strip()[-200:]}"
    if re.search(r'File ".*ttfs_symbolic/', err) or re.search(r"gloo/.*\.(cc|h)", err):
        return "a traceback through ttfs_symbolic or gloo"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: the fixture files a case may damage where a guard is missing (``--out`` over an input): restored
PRISTINE = ("model.pt", "model2.pt", "conv.json", "images/class_0/img_0.png")


def _restore(root: Path, saved: dict) -> None:
    """Put back any fixture file a case overwrote, so the next case runs on the same files."""
    for name, data in saved.items():
        path = root / name
        try:
            same = path.is_file() and path.read_bytes() == data
        except OSError:
            same = False
        if not same:
            if path.is_dir():
                import shutil

                shutil.rmtree(path)
            path.write_bytes(data)


def _prepared(prepare, root: Path) -> str | None:
    """Run a case's prepare step; None, or why it failed (the case then fails)."""
    if prepare is None:
        return None
    try:
        prepare(root)
        return None
    except Exception as exc:   # noqa: BLE001 - a case whose files cannot be made is a failed case
        return f"prepare failed: {type(exc).__name__}: {' '.join(str(exc).split())[:120]}"


def run_corpus(root: Path, only: str | None, timeout: float) -> list[dict]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    fill = lambda argv: [a.replace("{r}", str(root)) for a in argv]   # noqa: E731
    saved = {n: (root / n).read_bytes() for n in PRISTINE if (root / n).is_file()}
    results = []

    def record(kind, name, verdict, seconds):
        _restore(root, saved)
        results.append({"kind": kind, "case": name, "ok": verdict is None, "why": verdict, "seconds": seconds})
        print(f"{'ok  ' if verdict is None else 'FAIL'} {kind:8s} {name:40s} {seconds:5.1f}s"
              + ("" if verdict is None else f"  {verdict}"), flush=True)

    for name, prepare, argv, pattern in hc.WORKFLOW_CLI:
        if only and not re.search(only, name):
            continue
        why = _prepared(prepare, root)
        if why is not None:
            record("cli", name, why, 0.0)
            continue
        rc, _, err, s = _run([sys.executable, "-m", "ttfs_symbolic", *fill(argv)], timeout, env)
        record("cli", name, _cli_verdict(rc, err, argv[0], pattern), s)
    for name, _, pattern in hc.WORKFLOW_API:
        if only and not re.search(only, name):
            continue
        code = API_RUNNER.format(tests=str(TESTS), name=name, root=str(root))
        rc, out, err, s = _run([sys.executable, "-c", code], timeout, env)
        record("api", name, _api_verdict(rc, out, err, pattern), s)
    wrapper = hc.write_rank_wrapper(root)
    for name, prepare, extra_env, argv, pattern in hc.WORKFLOW_TORCHRUN:
        if only and not re.search(only, name):
            continue
        why = _prepared(prepare, root)
        if why is not None:
            record("torchrun", name, why, 0.0)
            continue
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr",
               "127.0.0.1", "--master-port", str(_free_port()), str(wrapper), *fill(argv)]
        e = {**env, **{k: v.replace("{r}", str(root)) for k, v in extra_env.items()}}
        rc, _, err, s = _run(cmd, timeout, e)
        record("torchrun", name, _torchrun_verdict(rc, err, pattern), s)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", help="folder for the fixture files (default: a fresh temporary folder)")
    ap.add_argument("--only", help="run only the cases whose id matches this regular expression")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per case (default 180)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    root = Path(args.root or tempfile.mkdtemp(prefix="ttfs_hostile_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        hc.build_fixtures(root)
    except Exception as exc:   # noqa: BLE001 - an old checkout may not build them: every case then fails
        print(f"fixtures could not be built: {type(exc).__name__}: {exc}", file=sys.stderr)
    results = run_corpus(root, args.only, args.timeout)
    failed = [r for r in results if not r["ok"]]
    print(f"\n{len(failed)} of {len(results)} cases failed "
          f"({sum(r['kind'] == 'cli' for r in failed)} command line, {sum(r['kind'] == 'api' for r in failed)} API, "
          f"{sum(r['kind'] == 'torchrun' for r in failed)} torchrun)")
    if args.json:
        Path(args.json).write_text(json.dumps({"failed": len(failed), "total": len(results), "results": results},
                                              indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
