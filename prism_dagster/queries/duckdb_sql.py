"""DuckDB: a view over ``read_json`` of every batch file, with day and hour from each path.

Measured on DuckDB 1.4 (see prism_dagster_tests/test_sql.py): a filter on ``day``, ``hour`` or
``hour_start`` skips the files of other hours (EXPLAIN ANALYZE's "Total Files Read"), because
each is an expression of ``filename`` alone, written straight over ``read_json``. The same
expressions one subquery further up read every file, so the view has no subquery.
"""

from __future__ import annotations

from prism_dagster.queries import duckdb_setup, paths
from prism_dagster.queries.columns import columns, sql_string
from prism_dagster.queries.target import Target, header


def view_name(target: Target) -> str:
    """The view's name: ``<integration>_logs``."""
    return f"{target.name}_logs"


def files_glob(target: Target) -> str:
    """Every batch file of the integration, as DuckDB globs it."""
    if target.provider == "local":
        return target.logs_path() + paths.batch_glob()
    if target.provider == "azure":
        return duckdb_setup.azure_uri(target, target.logs_key() + paths.batch_glob())
    return target.logs_uri() + paths.batch_glob()


def _hour_start() -> str:
    found = f"regexp_extract(filename, {sql_string(paths.batch_file_regex())}, 1)"
    return f"strptime({found}, {sql_string(paths.hour_strptime())})"


def view(target: Target) -> str:
    """``CREATE OR REPLACE VIEW`` over the integration's batch files, plus column comments."""
    fields = columns("duckdb", target.policy)
    hour_start = _hour_start()
    select = [f'    "{name}"' for name, _, _ in fields] + [
        f"    CAST({hour_start} AS DATE) AS day",
        f"    CAST(hour({hour_start}) AS INTEGER) AS hour",
        f"    {hour_start} AS hour_start",
    ]
    types = ",\n".join(
        f"        {sql_string(name)}: {sql_string(kind)}" for name, kind, _ in fields
    )
    name = view_name(target)
    statement = (
        f"CREATE OR REPLACE VIEW {name} AS\nSELECT\n"
        + ",\n".join(select)
        + "\nFROM read_json(\n"
        + f"    {sql_string(files_glob(target))},\n"
        + "    columns = {\n"
        + types
        + "\n    },\n"
        + "    format = 'newline_delimited',\n"
        + "    compression = 'gzip',\n"
        + "    filename = true,\n"
        + "    hive_partitioning = false\n"
        + ");"
    )
    described = [(n, d) for n, _, d in fields if d] + [
        ("day", "UTC day of the hour the row is archived under (from the file's path)."),
        ("hour", "UTC hour of day, 0-23, the row is archived under (from the file's path)."),
        ("hour_start", "Start of the UTC hour the row is archived under (from the file's path)."),
    ]
    comments = [f'COMMENT ON COLUMN {name}."{n}" IS {sql_string(d)};' for n, d in described]
    return "\n".join([statement, *comments])


def definitions(target: Target) -> str:
    """The whole DuckDB script for one integration."""
    notes = [
        f"-- Reads only {paths.batch_name_glob()}: never _manifest.json or _rejects_*.",
        "-- day (DATE), hour (0-23) and hour_start (TIMESTAMP, UTC) come from each file's",
        "-- path: a filter on them reads only the matching hours' files.",
        "-- Create the view once at least one hour is archived: DuckDB refuses a glob that",
        "-- matches no file.",
    ]
    blocks = [
        "\n".join([*header(target, "duckdb"), *notes]),
        *duckdb_setup.setup(target),
        view(target),
    ]
    return "\n\n".join(blocks) + "\n"
