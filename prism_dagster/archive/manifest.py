"""The hour manifest: written last, it tells readers an hour is complete and what it holds."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from prism_dagster.archive.redaction import HASH_ALGORITHM, FieldPolicy
from prism_dagster.archive.schema import RECORD_COLUMNS
from prism_dagster.errors import ManifestError

MANIFEST_FORMAT = "prism-archive-manifest/1"


@dataclass(frozen=True)
class FileEntry:
    """One object of an hour: name within the hour folder, rows, size and checksum."""

    name: str
    rows: int
    bytes: int
    uncompressed_bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What a complete hour holds. Carries no run id or write time, so reruns are identical."""

    integration: str
    hour: str
    total_rows: int
    files: list[FileEntry]
    gzip_level: int
    rejected_rows: int = 0
    rejects: FileEntry | None = None
    #: What the source held for this hour when it was read (see sources.base.fingerprint).
    source_fingerprint: str | None = None
    #: Every source line of the hour is a row or a reject: ``total_rows + rejected_rows``.
    source_lines: int = 0
    #: The fields every line holds, in order: the record's, less any the policy excluded.
    columns: list[str] = field(default_factory=lambda: list(RECORD_COLUMNS))
    #: The integration's fields policy when it had one (see ``fields_record``).
    excluded_fields: list[str] = field(default_factory=list)
    hashed_fields: list[str] = field(default_factory=list)
    hash_algorithm: str | None = None
    format: str = MANIFEST_FORMAT

    @property
    def entries(self) -> list[FileEntry]:
        """Every object the hour holds: its batch files, then its rejects file (if any)."""
        return [*self.files, *([self.rejects] if self.rejects else [])]

    def to_bytes(self) -> bytes:
        raw = asdict(self)
        if not (self.excluded_fields or self.hashed_fields):
            # No policy: the manifest as before policies existed, so reruns stay identical.
            for key in _POLICY_KEYS:
                del raw[key]
        elif self.hash_algorithm is None:
            del raw["hash_algorithm"]
        return (json.dumps(raw, indent=2) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"unknown format {raw.get('format')!r}")
            raw["files"] = [FileEntry(**entry) for entry in raw["files"]]
            raw["rejects"] = FileEntry(**raw["rejects"]) if raw.get("rejects") else None
            return cls(**raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise ManifestError(f"manifest {where} is not a valid prism manifest: {exc}") from exc


_POLICY_KEYS = ("excluded_fields", "hashed_fields", "hash_algorithm")


def fields_record(policy: FieldPolicy) -> dict[str, Any]:
    """What a manifest says of the fields policy: both lists (under a policy) and the columns."""
    return {
        "columns": policy.columns,
        "excluded_fields": list(policy.exclude),
        "hashed_fields": list(policy.hash),
        "hash_algorithm": HASH_ALGORITHM if policy.hash else None,
    }


def hour_label(hour: datetime) -> str:
    """The hour as written in manifests and metadata, e.g. ``2026-03-31T14:00:00Z``."""
    return f"{hour:%Y-%m-%dT%H}:00:00Z"
