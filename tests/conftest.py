"""Shared test configuration: hypothesis profiles.

* ``ci`` (loaded when the ``CI`` environment variable is set, as it is in CI,
  NOTES.md): derandomized, so a run is reproducible from the code alone, no
  deadline (the first call of a derivation or a compiled kernel can take
  seconds), **500 examples** per property.
* ``dev`` (otherwise): random, no deadline, 100 examples.
* ``thorough``: random, 5000 examples per property, for a run before a
  release: ``HYPOTHESIS_PROFILE=thorough python -m pytest -q``.

``HYPOTHESIS_PROFILE`` names a profile explicitly (it wins over ``CI``).
Properties that leave ``max_examples`` to the profile get these counts; the
few that build whole models per example set a smaller count of their own
(listed in docs/guide/testing.md). The property checks of
:mod:`ttfs_symbolic.verify` take their count as an argument: ``VERIFY_EXAMPLES``
below, scaled the same way.
"""
from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=500, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.register_profile("thorough", deadline=None, max_examples=5000)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
settings.load_profile(PROFILE)
