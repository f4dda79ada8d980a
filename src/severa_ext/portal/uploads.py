"""What a contact may upload: a size limit and a list of allowed file types.

The media type stored with a file is the portal's own (from the extension), never the
one the browser sent; a type with a known signature (PDF, PNG, JPEG, GIF, ZIP-based
Office files) must start with it, so a renamed executable is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from severa_ext.portal.errors import UploadRefused

__all__ = ["DEFAULT_TYPES", "UploadPolicy"]

_ZIP = (b"PK\x03\x04",)

DEFAULT_TYPES: Mapping[str, tuple[str, tuple[bytes, ...]]] = MappingProxyType(
    {
        "pdf": ("application/pdf", (b"%PDF-",)),
        "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
        "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
        "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
        "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
        "txt": ("text/plain", ()),
        "csv": ("text/csv", ()),
        "docx": (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            _ZIP,
        ),
        "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
        "pptx": (
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            _ZIP,
        ),
        "odt": ("application/vnd.oasis.opendocument.text", _ZIP),
        "ods": ("application/vnd.oasis.opendocument.spreadsheet", _ZIP),
    }
)
"""Maps each allowed extension to its media type and the leading bytes it may start with
(an empty tuple accepts any bytes)."""


@attrs.frozen(kw_only=True)
class UploadPolicy:
    """The limits of a file upload.

    Attributes:
        max_bytes: the largest file accepted (default 10 MiB).
        types: each extension's media type and signatures (default:
            :data:`~severa_ext.portal.uploads.DEFAULT_TYPES`).
    """

    max_bytes: int = 10 * 2**20
    types: Mapping[str, tuple[str, tuple[bytes, ...]]] = DEFAULT_TYPES

    def accept(self, name: str, data: bytes) -> str:
        """Check one file; return the media type to store it with.

        Raises:
            UploadRefused: ``reason`` is ``too-large``, ``empty``, ``type`` or ``content``.
        """
        if len(data) > self.max_bytes:
            raise UploadRefused(
                f"{name!r} is {len(data)} bytes; the limit is {self.max_bytes}",
                reason="too-large",
            )
        if not data:
            raise UploadRefused(f"{name!r} is empty", reason="empty")
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        known = self.types.get(extension)
        if known is None:
            raise UploadRefused(f"files of type {extension!r} are not accepted", reason="type")
        media_type, signatures = known
        if signatures and not data.startswith(signatures):
            raise UploadRefused(f"{name!r} is not a {extension} file", reason="content")
        return media_type

    def accepted_extensions(self) -> str:
        """The ``accept`` attribute of the file input, e.g. ``.pdf,.png``."""
        return ",".join(f".{ext}" for ext in sorted(self.types))
