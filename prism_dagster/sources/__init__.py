"""Sources: where the gateway's request logs are read from, behind one small interface."""

from prism_dagster.sources.base import LogSource, SourceBatch
from prism_dagster.sources.spool import SpoolSource

__all__ = ["LogSource", "SourceBatch", "SpoolSource"]
