"""The record's fields as each engine types them, from ``schema.RECORD_SCHEMA`` and the
integration's fields policy (excluded fields absent, hashed ones text described as hashes)."""

from __future__ import annotations

import polars as pl

from prism_dagster.archive.redaction import FieldPolicy

#: Polars type of a record field -> the engine's type for it. A new Polars type in the
#: schema is an error here (never a guessed type).
ENGINE_TYPES: dict[str, dict[type[pl.DataType], str]] = {
    "duckdb": {
        pl.String: "VARCHAR",
        pl.Int64: "BIGINT",
        pl.Float64: "DOUBLE",
        pl.Boolean: "BOOLEAN",
    },
    "athena": {
        pl.String: "string",
        pl.Int64: "bigint",
        pl.Float64: "double",
        pl.Boolean: "boolean",
    },
    "bigquery": {pl.String: "STRING", pl.Int64: "INT64", pl.Float64: "FLOAT64", pl.Boolean: "BOOL"},
    # OPENJSON's WITH types: JSON true/false read as BIT 1/0.
    "synapse": {
        pl.String: "NVARCHAR(4000)",
        pl.Int64: "BIGINT",
        pl.Float64: "FLOAT",
        pl.Boolean: "BIT",
    },
}


def columns(engine: str, policy: FieldPolicy) -> list[tuple[str, str, str]]:
    """(name, engine type, description) of every field written, in the archive's key order."""
    types = ENGINE_TYPES[engine]
    descriptions = policy.descriptions()
    out = []
    for name, dtype in policy.schema().items():
        kind = types.get(dtype.base_type())
        if kind is None:
            raise ValueError(f"record field {name!r} is {dtype}: no {engine} type is mapped for it")
        out.append((name, kind, descriptions.get(name, "")))
    return out


def sql_string(text: str) -> str:
    """A standard SQL string literal (quotes doubled): DuckDB, Athena's DML, T-SQL."""
    return "'" + text.replace("'", "''") + "'"


def backslash_string(text: str) -> str:
    """A string literal with backslash escapes: Hive DDL (Athena) and BigQuery."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
