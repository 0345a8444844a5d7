"""Shared test configuration: hypothesis profiles.

``ci`` (loaded when the ``CI`` environment variable is set, as it is in CI,
NOTES.md): derandomized, so a run is reproducible from the code alone, no
deadline (the first call of a derivation or a compiled kernel can take
seconds) and modest example counts. ``dev`` otherwise: random, no deadline.
Tests that set ``max_examples`` themselves keep their own count; the property
checks of :mod:`ttfs_symbolic.verify` take theirs as an argument.
"""
from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=25, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
