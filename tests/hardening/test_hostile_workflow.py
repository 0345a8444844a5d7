"""The user-workflow corpus of issue 21 (tests/hardening/hostile_corpus.py): every case a one-line error or a right answer.

``WORKFLOW_CLI`` runs through ``cli.main`` in this process (the cases that
name a FIFO in a subprocess with a timeout: a missing guard would block
``open`` forever), ``WORKFLOW_API`` through the library, and
``WORKFLOW_TORCHRUN`` under ``torchrun`` with two gloo ranks.
``scripts/hostile_check.py`` runs the same corpus, each case in a fresh
process, and counts the failures.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hostile_corpus as hc
from helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore::ttfs_symbolic.spiking.ClippingWarning")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    threads = torch.get_num_threads()
    r = hc.build_fixtures(tmp_path_factory.mktemp("workflow"))
    yield r
    torch.set_num_threads(threads)


def _argv(argv, root):
    return [a.replace("{r}", str(root)) for a in argv]


def check_one_line_error(rc, err, command, pattern):
    """Exit code 2; stderr lines all ``ttfs ...`` (warnings, the error), the last the error matching pattern."""
    lines = err.strip().splitlines()
    assert rc == 2, (rc, err)
    assert lines and "Traceback" not in err, err
    assert all(line.startswith("ttfs ") for line in lines), err
    assert lines[-1].startswith(f"ttfs {command}: error: "), err
    assert re.search(pattern, lines[-1]), (pattern, lines[-1])


@pytest.mark.parametrize("case", hc.WORKFLOW_CLI, ids=[c[0] for c in hc.WORKFLOW_CLI])
def test_workflow_cli_case_is_a_one_line_error(root, case, capsys):
    name, prepare, argv, pattern = case
    if prepare is not None:
        prepare(root)
    argv = _argv(argv, root)
    if "fifo" in name:   # a regression would block in open(): a fresh process with a timeout
        r = subprocess.run([sys.executable, "-m", "ttfs_symbolic", *argv], capture_output=True, text=True,
                           timeout=300, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1"))
        rc, err = r.returncode, r.stderr
    else:
        rc, _, err = run_cli(capsys, *argv)
    check_one_line_error(rc, err, argv[0], pattern)


@pytest.mark.parametrize("case", hc.WORKFLOW_API, ids=[c[0] for c in hc.WORKFLOW_API])
def test_workflow_api_case(root, case):
    name, fn, pattern = case
    if name.startswith("api-bert"):
        pytest.importorskip("transformers")
    if pattern is None:
        fn(root)   # asserts the right answer (and the warning, where there is one)
        return
    with pytest.raises((ValueError, TypeError), match=pattern) as exc:
        fn(root)
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 600, str(exc.value)


def test_convert_force_and_overwrite_keep_valid_input_working(root, capsys):
    """The guards refuse; --force and --overwrite let a user go on, with a warning where it matters."""
    out = root / "out" / "twice.json"
    argv = _argv(hc.CONVERT, root)
    argv[argv.index("--out") + 1] = str(out)
    assert run_cli(capsys, *argv)[0] == 0
    check_one_line_error(*run_cli(capsys, *argv)[::2], "convert", r"exists; pass --overwrite")
    assert run_cli(capsys, *argv, "--overwrite")[0] == 0
    ev = _argv(hc.EVALUATE, root)
    ev[ev.index("--checkpoint") + 1] = str(root / "model2.pt")
    rc, out_text, err = run_cli(capsys, *ev, "--force")
    assert rc == 0 and "warning: " in err and "other weights" in err and "loaded anyway" in err, err
    report = (root / "out" / "e" / "report.json").read_text()
    assert '"label_map": {' in report and '"class_0": 0' in report


def test_a_constant_neuron_has_no_spread_on_any_grouping_of_batches():
    """sum(x^2)/n - mean^2 left a spread of ~1e-8 |x| (float cancellation) that changed with the order
    of the sums; the sums of squared deviations (Chan et al.) give 0 whatever the grouping."""
    from ttfs_symbolic.spiking import Population

    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(5, 3, generator=g, dtype=torch.float64) for _ in range(4)]
    for b in batches:
        b[:, 0] = 1234.5678901   # a neuron whose value never changes (a class token's position, say)
    one = Population("x", kind="linear")
    one.range_kind = "neuron"
    for b in batches:
        one.observe(b)
    one.finalize(sigmas=6.0)
    assert float(one.fine_b[0] - one.fine_a[0]) <= 2e-6 * 1234.5678901   # the width floor alone
    # the merge of two "ranks" (batches 0, 2 and 1, 3) as reduce_calibration does it
    parts = []
    for idx in ((0, 2), (1, 3)):
        p = Population("x", kind="linear")
        p.range_kind = "neuron"
        for i in idx:
            p.observe(batches[i])
        parts.append(p.stats)
    n = sum(s.rows for s in parts)
    mean = sum(s.sum_t for s in parts) / n
    m2 = sum(s.m2_t + s.rows * (s.sum_t / s.rows - mean) ** 2 for s in parts)
    assert torch.allclose(m2, one.stats.m2_t, rtol=1e-12, atol=1e-9) and float(m2[0]) < 1e-12
    assert torch.allclose(mean, one.stats.sum_t / one.stats.rows, rtol=1e-15, atol=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_torchrun(root, env, argv, timeout=600):
    wrapper = hc.write_rank_wrapper(root)
    env = {**os.environ, "OMP_NUM_THREADS": "1", **{k: v.replace("{r}", str(root)) for k, v in env.items()}}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), str(wrapper), *_argv(argv, root)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def check_torchrun_failure(res, pattern):
    """Non-zero exit, the ranks' one-line error present, no traceback through this library or gloo."""
    err = res.stderr
    assert res.returncode != 0, err[-2000:]
    assert re.search(pattern, err), err[-3000:]
    assert not re.search(r'File ".*ttfs_symbolic/', err) and not re.search(r"gloo/.*\.(cc|h)", err), err[-3000:]
    ours = [line for line in err.splitlines() if line.startswith("ttfs ")]
    assert ours and all(line.startswith("ttfs evaluate: error: ") for line in ours), err[-3000:]


@pytest.mark.parametrize("case", hc.WORKFLOW_TORCHRUN, ids=[c[0] for c in hc.WORKFLOW_TORCHRUN])
def test_workflow_torchrun_case(root, case):
    name, prepare, env, argv, pattern = case
    if prepare is not None:
        prepare(root)
    check_torchrun_failure(run_torchrun(root, env, argv), pattern)
