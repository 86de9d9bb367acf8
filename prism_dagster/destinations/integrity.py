"""Checksums sent with every upload, so the store itself refuses bytes changed on the way."""

from __future__ import annotations

import base64
import hashlib

CHECKSUM_FIX = (
    "The store received other bytes than were sent (a faulty proxy, NIC or memory on the "
    "path); nothing was published. Rerun the hour; if it recurs, check the network path."
)


def sha256_b64(data: bytes) -> str:
    """SHA-256 of ``data``, base64: S3's ``x-amz-checksum-sha256``."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def md5_hex(data: bytes) -> str:
    """MD5 of ``data``, hex: what S3 returns as the ETag of a plain or SSE-S3 upload."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_b64(data: bytes) -> str:
    """MD5 of ``data``, base64: ``Content-MD5`` and GCS's ``md5Hash``."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def b64(digest: bytes) -> str:
    """A digest in base64, as the stores' checksum headers carry it."""
    return base64.b64encode(digest).decode()
