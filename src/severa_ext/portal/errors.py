"""The portal's errors: part of the package's one hierarchy (``SeveraExtError``).

::

    SeveraExtError
    └── PortalError
        ├── WeakPassword (ValidationError)    the new password breaks the policy; reason
        └── UploadRefused (ValidationError)   a file too big, of a refused type; reason
"""

from __future__ import annotations

from severa_ext.errors import SeveraExtError, ValidationError

__all__ = ["PortalError", "UploadRefused", "WeakPassword"]


class PortalError(SeveraExtError):
    """Base of the errors of :mod:`severa_ext.portal`."""


class WeakPassword(PortalError, ValidationError):
    """A new password was refused by the policy (NIST SP 800-63B-4, section 3.1.1).

    Attributes:
        reason: ``"too-short"``, ``"too-long"``, ``"common"`` (on the blocklist),
            ``"context"`` (holds the address or the product name) or ``"repetitive"``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class UploadRefused(PortalError, ValidationError):
    """An uploaded file was refused before anything was stored.

    Attributes:
        reason: ``"too-large"``, ``"empty"``, ``"type"`` (the extension is not allowed)
            or ``"content"`` (the bytes do not look like the extension says).
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
