"""The gateway's request-log table in a real PostgreSQL, loaded with simulated traffic."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import polars as pl
import psycopg

from prism_dagster.archive import layout
from prism_dagster.sources.gateway_table import COLUMNS, TABLE_DDL
from prism_dagster.sources.simulate import hour_rows

ORG = "6f1c1a0e-0000-4000-8000-000000000001"
OTHER_ORG = "6f1c1a0e-0000-4000-8000-000000000002"
WORKSPACE = "7a2b0000-0000-4000-8000-00000000000a"
OTHER_WORKSPACE = "7a2b0000-0000-4000-8000-00000000000b"


def traffic(start: datetime, end: datetime, rate: int, seed: int) -> pl.DataFrame:
    """Gateway rows over ``[start, end)`` with every case the source must get right.

    Other organisations, NULL and other workspaces, soft-deleted rows, NULL started_at
    (from the simulator), decimal costs and error messages far over 500 characters.
    """
    frames = [hour_rows(h, rate, seed) for h in layout.hours_between(start, end)]
    rows = pl.concat([f for f in frames if f.height], how="diagonal_relaxed")
    n = rows.height
    index = pl.int_range(n, eager=True)
    return rows.with_columns(
        pl.when(index % 7 == 3)
        .then(pl.lit(OTHER_ORG))
        .otherwise(pl.lit(ORG))
        .alias("organization_id"),
        pl.when(index % 5 == 1)
        .then(None)
        .when(index % 5 == 2)
        .then(pl.lit(OTHER_WORKSPACE))
        .otherwise(pl.lit(WORKSPACE))
        .alias("workspace_id"),
        (index % 11 == 4).alias("deleted"),
        pl.when(pl.col("is_error") & (index % 2 == 0))
        .then(pl.col("error_message") + pl.lit(" | upstream said: " + "x" * 900))
        .otherwise(pl.col("error_message"))
        .alias("error_message"),
        pl.lit('{"messages": [{"role": "user", "content": "secret prompt"}]}').alias(
            "request_body"
        ),
    )


def load(dsn: str, rows: pl.DataFrame, create: bool = True) -> None:
    """Create the table (once) and COPY ``rows`` into it."""
    with psycopg.connect(dsn) as conn:
        if create:
            conn.execute("DROP TABLE IF EXISTS agentcc_request_log")
            conn.execute(TABLE_DDL)
        with conn.cursor().copy(
            f"COPY agentcc_request_log ({', '.join(COLUMNS)}) FROM STDIN"
        ) as copy:
            for row in rows.select(COLUMNS).iter_rows():
                copy.write_row(row)


def new_database(admin_dsn: str) -> str:
    """A fresh database on the server; returns its name."""
    name = f"gw_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return name


def scoped(rows: list[dict[str, Any]], **scope: Any) -> pl.DataFrame:
    """Rows as ``rows.gateway_row`` makes them, of ORG's WORKSPACE unless ``scope`` says."""
    base = {"organization_id": ORG, "workspace_id": WORKSPACE, "deleted": False}
    return pl.DataFrame(
        [{**base, "request_body": None, **scope, **row} for row in rows], infer_schema_length=None
    )


def fresh(admin: Any, rows: pl.DataFrame, setup: str | None = None) -> str:
    """A new database on the server ``admin`` holding only ``rows``; returns its DSN.

    ``setup``: SQL run after the table is created and before the rows are loaded.
    """
    dsn = admin.dsn(db=new_database(admin.dsn()))
    load(dsn, rows.head(0))
    if setup:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(setup)
    load(dsn, rows, create=False)
    return dsn
