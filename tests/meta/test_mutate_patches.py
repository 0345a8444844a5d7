"""scripts/mutate.py stays applicable: every mutation's text patch finds its text exactly once, changes it,
and names test files that exist (a refactor that moves patched code fails here, not months later when
someone runs the script). Running the mutations themselves is the script's job (docs/mutation.md)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
        # the path is a hint: the text must occur exactly once in the whole package (so that it stays
        # unambiguous when the module moves); locate() finds the file
        where, why = MUTATE.locate(ROOT, path, old)
        assert where is not None, f"{m.name}: {why}"
        assert sum(MUTATE.occurrences(ROOT, old).values()) == 1
        assert new != old
    assert m.area, m.name
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
    assert len(names) >= 120
    # issue 23's kinds of bug, one mutation each at least
    for target in ("cache_folder_group_write_allowed", "library_group_write_allowed", "schema_empty_neuron_range_accepted",
                   "schema_version_0_accepted", "schema_shift_nonfinite_accepted", "activation_tol_0.1",
                   "activation_check_wrong_range", "bert_masked_key_fires", "evaluate_warning_inverted",
                   "sweep_clip_rate_counts_input", "stats_sigmas_sign", "stats_rows_not_tokens",
                   "signed_proxy_no_range_factor", "relay_gets_window", "bert_residual_synapses_halved",
                   "torchrun_seed_rank_local"):
        assert target in names


def test_a_moved_patch_is_found_in_its_new_file(tmp_path):
    pkg = tmp_path / "ttfs_symbolic" / "sub"
    pkg.mkdir(parents=True)
    (pkg / "new_home.py").write_text("x = 1\nif check:\n    y = 2\n")
    (pkg / "other.py").write_text("z = 3\n")
    assert MUTATE.locate(tmp_path, "ttfs_symbolic/old_home.py", "if check:\n") == ("ttfs_symbolic/sub/new_home.py", "")
    where, why = MUTATE.locate(tmp_path, "ttfs_symbolic/old_home.py", "= ")
    assert where is None and "more than once" in why
    where, why = MUTATE.locate(tmp_path, "ttfs_symbolic/sub/new_home.py", "absent")
    assert where is None and "in no file" in why


def test_ci_sample_rotates_by_date_and_is_deterministic():
    from datetime import date, timedelta

    day = date(2026, 12, 7)
    a, b = MUTATE.ci_sample(day), MUTATE.ci_sample(day)
    assert a == b and len(a) == MUTATE.CI_COUNT and len({m.name for m in a}) == len(a)
    assert not any(m.equivalent for m in a)
    nxt = MUTATE.ci_sample(day + timedelta(days=1))
    assert not {m.name for m in a} & {m.name for m in nxt}
    pool = [m for m in MUTATE.MUTATIONS if not m.equivalent]
    days = -(-len(pool) // MUTATE.CI_COUNT)
    covered = {m.name for k in range(days) for m in MUTATE.ci_sample(day + timedelta(days=k))}
    assert covered == {m.name for m in pool}


def _load_blind(name):
    spec = importlib.util.spec_from_file_location(f"ttfs_{name}_script", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


BLIND2 = _load_blind("mutations_blind2").BLIND2
BLIND3 = _load_blind("mutations_blind3").BLIND3
BLIND4 = _load_blind("mutations_blind4").BLIND4
BLIND5 = _load_blind("mutations_blind5").BLIND5


@pytest.mark.parametrize("m", BLIND2 + BLIND3 + BLIND4 + BLIND5, ids=lambda m: m.name)
def test_later_blind_sets_patch_applies_once_and_its_folders_exist(m):
    # the second to fifth blind sets (docs/mutation.md) stay runnable: each text once in the package,
    # folders present
    for path, old, new in m.patches:
        where, why = MUTATE.locate(ROOT, path, old)
        assert where == path, f"{m.name}: {why}"
        assert new != old
    folders = [t for t in m.tests if t.startswith("tests/")]
    assert folders and all((ROOT / f).is_dir() for f in folders), m.tests
    for blind in (BLIND2, BLIND3, BLIND4, BLIND5):
        assert len({b.name for b in blind}) == len(blind)
