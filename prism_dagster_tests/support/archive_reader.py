"""Readers of the archive: an independent one (standard-library gzip and JSON, not the
plugin's code) for what is really stored, and the plugin's own manifest-checked reader."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from prism_dagster.archive.archive import Archive
from prism_dagster.destinations import Destination


def read_archive_lines(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Every batch file under ``root`` decoded with the standard library, by file path."""
    return {
        str(p.relative_to(root)): [
            json.loads(line) for line in gzip.decompress(p.read_bytes()).splitlines()
        ]
        for p in sorted(root.rglob("batch_*.jsonl.gz"))
    }


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, for byte-identity checks."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def read_hour(dest: Destination, prefix: str, hour: datetime) -> pl.DataFrame:
    """An archived hour through the package's own reader (manifest-checked)."""
    return Archive("prod", dest, prefix).read_hour(hour)
