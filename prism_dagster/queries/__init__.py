"""SQL definitions over an integration's archive for DuckDB, Athena, BigQuery and Synapse.

Generated from the integration's real location (``Archive``), the key layout (``layout``,
through ``paths``) and the record schema (``schema.RECORD_SCHEMA``, through ``columns``,
less the fields the integration excludes).
Importing this package is cheap; ``definitions`` loads the engines when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prism_dagster.queries.engines import ENGINES, FITS, fitting_engines

if TYPE_CHECKING:
    from prism_dagster.config import Integration


def definitions(integration: Integration, engine: str) -> str:
    """The SQL that defines the integration's archive as a view (and table) in ``engine``.

    Raises ``QueryError`` (a PrismError) when ``engine`` cannot read the integration's store.
    """
    from prism_dagster.queries import athena_sql, bigquery_sql, duckdb_sql, synapse_sql
    from prism_dagster.queries.target import target

    render = {
        "duckdb": duckdb_sql.definitions,
        "athena": athena_sql.definitions,
        "bigquery": bigquery_sql.definitions,
        "synapse": synapse_sql.definitions,
    }
    found = target(integration, engine)
    return render[engine](found)


__all__ = ["ENGINES", "FITS", "definitions", "fitting_engines"]
