"""One integration's archive: its destination, prefix and write settings.

Every caller that writes an hour, reads one back, reads a manifest or shows where the archive
lives goes through an ``Archive``; only ``layout`` joins keys.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from prism_dagster.archive import layout
from prism_dagster.archive.manifest import Manifest
from prism_dagster.archive.records import HourRecords
from prism_dagster.archive.schema import RECORD_SCHEMA
from prism_dagster.archive.settings import WriteSettings
from prism_dagster.archive.writer import HourResult, Writer, write_hour
from prism_dagster.destinations.base import Destination
from prism_dagster.errors import ManifestError


@dataclass(frozen=True)
class Archive:
    """Where and how one integration's hours are archived."""

    integration: str
    destination: Destination
    prefix: str = ""
    settings: WriteSettings = field(default_factory=WriteSettings)

    def uri(self) -> str:
        """The archive's root, where every hour lives (``…/logs/``)."""
        return self.destination.uri(layout.logs_folder(self.prefix))

    def manifest_uri(self, hour: datetime) -> str:
        """Where an hour's manifest is (or would be)."""
        return self.destination.uri(layout.manifest_key(self.prefix, hour))

    def file_uri(self, hour: datetime, name: str) -> str:
        """Where one object of an hour is, by its name in the manifest."""
        return self.destination.uri(layout.file_key(self.prefix, hour, name))

    def hour_uri(self, hour: datetime) -> str:
        """The folder of one hour's objects."""
        return self.destination.uri(layout.hour_folder(self.prefix, hour))

    def prefix_uri(self) -> str:
        """The integration's prefix in its destination, as a URI."""
        return self.destination.uri(layout.prefix_dir(self.prefix))

    def write_hour(
        self,
        hour: datetime,
        records: pl.DataFrame | HourRecords,
        rejects: pl.DataFrame,
        source_fingerprint: str | None = None,
        writer: Writer | None = None,
    ) -> HourResult:
        """Replace one hour's archive (see ``writer.write_hour``)."""
        return write_hour(
            self.destination,
            integration=self.integration,
            prefix=self.prefix,
            hour=hour,
            records=records,
            rejects=rejects,
            settings=self.settings,
            source_fingerprint=source_fingerprint,
            writer=writer,
        )

    def manifest(self, hour: datetime) -> Manifest | None:
        """The hour's manifest, or None if the hour was never archived whole."""
        key = layout.manifest_key(self.prefix, hour)
        if not self.destination.exists(key):
            return None
        return Manifest.from_bytes(self.destination.get_object(key), self.destination.uri(key))

    def schema(self) -> dict[str, pl.DataType]:
        """The fields this archive writes now (its fields policy), with their types."""
        return self.settings.fields.policy().schema()

    def read_hour(self, hour: datetime) -> pl.DataFrame:
        """An archived hour as records, checked against its manifest (empty if never written).

        The columns are those the manifest lists (the fields policy it was written under).
        """
        manifest = self.manifest(hour)
        if manifest is None:
            listed = self.destination.list_keys(layout.hour_folder(self.prefix, hour))
            if any(layout.is_batch_key(k) for k in layout.in_hour(self.prefix, hour, listed)):
                key = layout.manifest_key(self.prefix, hour)
                raise ManifestError(
                    f"{self.destination.uri(key)} is missing: the hour is incomplete"
                )
            return pl.DataFrame(schema=self.schema())
        unknown = [c for c in manifest.columns if c not in RECORD_SCHEMA]
        if unknown:
            raise ManifestError(f"the manifest of {manifest.hour} lists unknown columns {unknown}")
        schema = {c: RECORD_SCHEMA[c] for c in manifest.columns}
        frames = []
        for entry in manifest.files:
            data = self.destination.get_object(layout.file_key(self.prefix, hour, entry.name))
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                raise ManifestError(
                    f"{entry.name} of {manifest.hour} does not match its manifest checksum"
                )
            frames.append(pl.read_ndjson(gzip.decompress(data), schema=schema))
        return pl.concat([pl.DataFrame(schema=schema), *frames])
