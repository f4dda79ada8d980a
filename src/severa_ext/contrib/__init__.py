"""Integrations with the host's infrastructure (optional extras).

* :mod:`severa_ext.contrib.celery`: the runner on Celery with Redis
  (``pip install severa-ext[celery]``).
"""

from __future__ import annotations

__all__: list[str] = []
