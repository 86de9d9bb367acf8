"""Specific exceptions, each telling the operator what to fix, and the causes they classify."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum


class FailureCause(StrEnum):
    """Why an archive run or a validation failed, in operator terms (one place, used everywhere)."""

    INVALID_CREDENTIALS = "invalid key or signature"
    ACCESS_DENIED = "access denied"
    MISSING_BUCKET = "bucket or container missing"
    WRONG_REGION = "wrong region"
    UNREACHABLE = "endpoint unreachable"
    THROTTLED = "throttled"
    SERVER_ERROR = "storage service error"  # 5xx other than 503 SlowDown
    CHECKSUM_MISMATCH = "checksum mismatch"  # the store received other bytes than were sent
    KEY_DENIED = "encryption key missing or denied"  # KMS key, encryption scope or CPK
    NOT_A_FOLDER = "not a folder"  # local: a file stands where a folder is needed
    READ_ONLY = "read-only file system"  # local
    DISK_FULL = "disk full"  # local: no space left, or the user's quota used up
    PATH_GONE = "file or folder missing"  # local: removed while a run was using it
    HOUR_BUSY = "hour being written by another run"
    BAD_SOURCE_DATA = "bad source data"
    SOURCE_UNREACHABLE = "source unreachable"
    BAD_SOURCE_SCHEMA = "bad source schema"
    SOURCE_DENIED = "source access denied"
    BAD_SOURCE_SETTING = "bad source setting"  # e.g. organization_id not of the column's type
    UNKNOWN = "unknown"

    @property
    def category(self) -> str:
        """The coarser class an integration's Error status shows."""
        return _CATEGORY.get(self, self.value)


_CATEGORY = {
    FailureCause.INVALID_CREDENTIALS: "authentication/permission",
    FailureCause.ACCESS_DENIED: "authentication/permission",
    FailureCause.WRONG_REGION: "authentication/permission",
    FailureCause.KEY_DENIED: "authentication/permission",
    FailureCause.SOURCE_DENIED: "authentication/permission",
}


class PrismError(Exception):
    """Base class for every error prism_dagster raises on purpose."""

    cause: FailureCause = FailureCause.UNKNOWN


class ConfigError(PrismError):
    """prism.yaml is missing, unreadable or invalid."""


class BadRecordsError(PrismError):
    """The source held records that could not be archived and the policy says fail."""

    cause = FailureCause.BAD_SOURCE_DATA


class SourceError(PrismError):
    """The log source cannot be read: unreachable, denied, or not the expected schema."""

    def __init__(
        self,
        message: str,
        cause: FailureCause = FailureCause.SOURCE_UNREACHABLE,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.transient = transient  # a later try may pass: a broken or stalled connection


class DestinationError(PrismError):
    """A destination could not be written, read, listed or cleaned."""

    def __init__(
        self, message: str, cause: FailureCause = FailureCause.UNKNOWN, transient: bool = False
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.transient = transient  # worth retrying: throttling, 5xx, timeouts, network
        self.attempts = 1
        self.detail = ""  # what the store said (scrubbed), without our framing

    def gave_up(self, attempts: int, seconds: float) -> DestinationError:
        """This error, after retrying it ``attempts`` times over ``seconds`` did not help."""
        error = DestinationError(
            f"{self} Gave up after {attempts} attempt(s) over {seconds:.0f}s.",
            self.cause,
            self.transient,
        )
        error.attempts, error.detail = attempts, self.detail
        return error


class HourBusyError(PrismError):
    """Another run holds an hour's writer lease; this run did not touch the hour."""

    cause = FailureCause.HOUR_BUSY

    def __init__(self, message: str, hours: list[str], holder: str = "", until: str = "") -> None:
        super().__init__(message)
        self.hours = hours
        self.holder = holder  # the run holding the (first) hour's lease
        self.until = until  # when that lease ends, e.g. 2026-03-31T14:42:07Z


class ManifestError(PrismError):
    """An hour's manifest is missing or does not match its files."""


# Credentials that can hide inside SDK messages or connection strings, whatever the source.
_SECRET_PATTERNS = (
    re.compile(r"(AccountKey=)[^;\s]+", re.IGNORECASE),
    re.compile(r"(SharedAccessSignature=)[^;\s]+", re.IGNORECASE),
    re.compile(r"([?&]sig=)[^&\s'\"/]+", re.IGNORECASE),
    re.compile(r"([?&]upload_id=)[^&\s'\"]+", re.IGNORECASE),  # GCS resumable session
    re.compile(r"(://[^:/@\s]+:)[^@\s]+(?=@)"),  # user:password@ in any URL or DSN
    re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE),  # key=value DSNs
    re.compile(r"(\"private_key\"\s*:\s*\")[^\"]+", re.IGNORECASE),
    re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?(?=-----END)", re.IGNORECASE),
)
REDACTED = "***"


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret value and credential-looking fragment replaced."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text
