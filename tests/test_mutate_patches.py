"""scripts/mutate.py stays applicable: every mutation's text patch finds its text exactly once, changes it,
and names test files that exist (a refactor that moves patched code fails here, not months later when
someone runs the script). Running the mutations themselves is the script's job (docs/mutation.md)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("ttfs_mutate_script", ROOT / "scripts" / "mutate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


MUTATE = _load()


@pytest.mark.parametrize("m", MUTATE.MUTATIONS, ids=lambda m: m.name)
def test_patch_applies_once_and_its_tests_exist(m):
    for path, old, new in m.patches:
        text = (ROOT / path).read_text()
        assert text.count(old) == 1, f"{m.name}: {path} holds {old.strip()!r} {text.count(old)} times"
        assert new != old
    files = [t for t in m.tests if t.startswith("tests/")]
    assert files, m.tests
    for f in files:
        assert (ROOT / f).is_file(), f


def test_names_are_unique_and_issue_targets_are_present():
    names = [m.name for m in MUTATE.MUTATIONS]
    assert len(names) == len(set(names))
    for target in ("psi_no_tau_theta_at_a", "C_times_d", "psi_off_1e-6", "C_off_1e-9", "layernorm_eps_dropped",
                   "softmax_no_max_quantized", "verify_potential_tol_1e-2", "verify_no_one_spike_check",
                   "verify_no_below_check", "tick_shift_C", "encoder_shift"):
        assert target in names
