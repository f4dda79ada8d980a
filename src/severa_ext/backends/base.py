"""The backend protocol, re-exported from :mod:`severa_ext.sync.protocol`.

The protocol lives in the sync core (every import points inward); backends and host
adapters may keep importing it from here.
"""

from __future__ import annotations

from severa_ext.sync.protocol import (
    ActivityTypeSource,
    Backend,
    CreateOp,
    DeleteOp,
    UpdateOp,
    WriteOp,
    WriteResult,
    apply_one_by_one,
)

__all__ = [
    "ActivityTypeSource",
    "Backend",
    "CreateOp",
    "DeleteOp",
    "UpdateOp",
    "WriteOp",
    "WriteResult",
    "apply_one_by_one",
]
