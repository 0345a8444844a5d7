"""Every hypothesis property of the suite runs at least the profile's count (tests/conftest.py).

In CI (``CI=true``, the ``ci`` profile) that is 500 examples per property; a test that sets a smaller
``max_examples`` of its own fails here, with its name. docs/guide/testing.md lists the profiles.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from hypothesis import settings

from conftest import PROFILE

HERE = Path(__file__).resolve().parents[1]   # tests/


def properties():
    """(module, name, settings) of every ``@given`` test in tests/*/test_*.py."""
    found = []
    for path in sorted(HERE.rglob("test_*.py")):
        if str(path.parent) not in sys.path:   # (pytest puts a test file's folder there when it collects it)
            sys.path.insert(0, str(path.parent))
        module = importlib.import_module(path.stem)   # the module pytest imported, or imports now
        for name, fn in vars(module).items():
            if name.startswith("test") and callable(fn) and getattr(fn, "is_hypothesis_test", False):
                found.append((path.name, name, fn._hypothesis_internal_use_settings))
    return found


def test_every_property_runs_the_profiles_count():
    props = properties()
    # every @given of the sources is found (a rename of hypothesis' attributes must not make this pass vacuously)
    in_source = sum(path.read_text().count("\n@given(") for path in HERE.rglob("test_*.py"))
    assert len(props) == in_source >= 20, [f"{m}::{n}" for m, n, _ in props]
    assert {m for m, _, _ in props} >= {"test_model_layers.py", "test_native.py", "test_eva.py", "test_verify.py",
                                        "test_dynamics.py", "test_parse.py"}
    want = settings.default.max_examples
    low = [f"{m}::{n} runs {s.max_examples}" for m, n, s in props if s.max_examples < want]
    assert not low, f"profile {PROFILE!r} asks for {want} examples per property: {low}"
    # and none of them re-enables a deadline (the first call of a kernel can take seconds)
    assert all(s.deadline is None for _, _, s in props)


def test_ci_profile_is_derandomized_at_500():
    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.max_examples >= 500 and ci.deadline is None
    assert settings.get_profile("thorough").max_examples > ci.max_examples
