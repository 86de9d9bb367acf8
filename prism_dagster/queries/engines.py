"""Which engine reads which provider (no heavy imports: the CLI's parser uses it)."""

from __future__ import annotations

#: Which providers each engine reads. DuckDB reads them all; the others only their own cloud.
FITS: dict[str, tuple[str, ...]] = {
    "duckdb": ("local", "s3", "gcs", "azure"),
    "athena": ("s3",),
    "bigquery": ("gcs",),
    "synapse": ("azure",),
}
ENGINES: tuple[str, ...] = tuple(FITS)
STORES = {"local": "a local folder", "s3": "S3", "gcs": "GCS", "azure": "Azure Blob Storage"}


def fitting_engines(provider: str) -> list[str]:
    """The engines that can read a provider's archive."""
    return [engine for engine, providers in FITS.items() if provider in providers]
