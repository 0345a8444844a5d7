"""Shared test configuration: hypothesis profiles.

* ``ci`` (loaded when the ``CI`` environment variable is set, as it is in CI,
  docs/design.md): derandomized, so a run is reproducible from the code alone, no
  deadline (the first call of a derivation or a compiled kernel can take
  seconds), **500 examples** per property.
* ``dev`` (otherwise): random, no deadline, 100 examples.
* ``thorough``: random, 5000 examples per property, for a run before a
  release: ``HYPOTHESIS_PROFILE=thorough python -m pytest -q``.

``HYPOTHESIS_PROFILE`` names a profile explicitly (it wins over ``CI``).
Every ``@given`` property leaves ``max_examples`` to the profile
(tests/meta/test_strength.py fails on one that sets fewer). The property checks of
:mod:`ttfs_symbolic.verify` take their count as an argument: the tests pass
``settings.default.max_examples`` (the profile's count) wherever a correct
neuron must pass, and a small fixed count where a broken one must be rejected
(a fault found within 15 or 20 examples is the stronger claim).
docs/guide/testing.md lists what each profile runs.
"""
from __future__ import annotations

import os

from hypothesis import settings

# Under pytest-xdist (scripts/test.sh runs one worker per core) each worker computes with its share of
# the cores, and so do the processes a test starts (torchrun, the CLI), instead of every worker's torch
# taking all of them and the workers contending for the same cores.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    _share = max(1, _cores // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(_share)
    # torch's own pool size is fixed at its import, which may already have happened
    import torch

    torch.set_num_threads(_share)

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=500, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.register_profile("thorough", deadline=None, max_examples=5000)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
settings.load_profile(PROFILE)
