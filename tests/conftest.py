"""Suite-wide configuration: hypothesis profiles.

Profiles (pick one with ``HYPOTHESIS_PROFILE``; CI sets ``CI=true`` and gets ``ci``):

* ``ci``: derandomized, a fixed number of examples, no deadline: repeatable and
  bounded on a 2-core runner.
* ``dev``: the default locally, a little faster than ``ci``, randomised.
* ``soak``: long local runs (``HYPOTHESIS_PROFILE=soak pytest -m slow``): 20x the
  examples of ``ci``. Tests that size their own runs use ``support.scaled(n)``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=100,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=60,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "soak",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_default = "ci" if os.environ.get("CI") else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))
