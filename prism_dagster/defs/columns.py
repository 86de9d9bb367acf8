"""The archive's columns as Dagster shows them: schema with descriptions, and column lineage."""

from __future__ import annotations

import dagster as dg
import polars as pl

from prism_dagster.archive.redaction import FieldPolicy
from prism_dagster.archive.schema import FIELD_SOURCES, GATEWAY_DESCRIPTIONS, GATEWAY_SCHEMA


def _type_name(dtype: pl.DataType) -> str:
    """A column type as analysts read it (JSON value types, timestamps in UTC)."""
    if isinstance(dtype, pl.Datetime):
        return "timestamp (UTC)"
    return {pl.String: "string", pl.Int64: "int64", pl.Float64: "float64"}.get(
        type(dtype), str(dtype).lower()
    )


def _schema(types: dict[str, pl.DataType], descriptions: dict[str, str]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, _type_name(dtype), description=descriptions[name])
            for name, dtype in types.items()
        ]
    )


def record_table_schema(policy: FieldPolicy) -> dg.TableSchema:
    """The fields an integration's lines hold (its fields policy), hashed ones described so."""
    return _schema(policy.schema(), policy.descriptions())


def record_column_lineage(policy: FieldPolicy, source: dg.AssetKey) -> dg.TableColumnLineage:
    """Which gateway columns (of ``source``) each written field comes from (a hashed one: from
    the same)."""
    return dg.TableColumnLineage(
        deps_by_column={
            field: [dg.TableColumnDep(asset_key=source, column_name=c) for c in columns]
            for field, columns in FIELD_SOURCES.items()
            if field in policy.columns
        }
    )


#: The gateway columns the archive reads.
GATEWAY_TABLE_SCHEMA = _schema(GATEWAY_SCHEMA, GATEWAY_DESCRIPTIONS)
