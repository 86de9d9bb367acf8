"""BigQuery: an external table over the bucket's wildcard, and a view that adds day and hour.

BigQuery's hive partitioning needs ``key=value`` folders, which ``YYYY/MM/DD`` are not: the
view derives day and hour from ``_FILE_NAME``, which filters rows but prunes no file (every
query reads every batch file). One wildcard is allowed per URI and it spans folders, so the
table's URI matches ``*.jsonl.gz``: batches, and also rejects files (``ignore_unknown_values``
reads their lines as rows of NULLs), which the view drops by file name. Manifests end in
``.json`` and never match.
"""

from __future__ import annotations

from prism_dagster.archive import layout
from prism_dagster.queries import paths
from prism_dagster.queries.columns import backslash_string, columns
from prism_dagster.queries.target import Target, header


def _raw(text: str) -> str:
    """A BigQuery raw string literal (no escapes): for regular expressions."""
    if "'" in text:
        raise ValueError(f"a regular expression with a quote cannot be a raw string: {text!r}")
    return f"r'{text}'"


def uri(target: Target) -> str:
    """The external table's one wildcard URI: every ``*.jsonl.gz`` under ``logs/``."""
    return f"{target.logs_uri()}*{layout.BATCH_SUFFIX}"


def table(target: Target) -> str:
    """``CREATE OR REPLACE EXTERNAL TABLE <name>_logs_raw``."""
    fields = columns("bigquery", target.policy)
    width = max(len(name) for name, _, _ in fields)
    cols = ",\n".join(
        f"  {name:<{width}} {kind} OPTIONS (description = {backslash_string(text)})"
        for name, kind, text in fields
    )
    return (
        f"CREATE OR REPLACE EXTERNAL TABLE {target.name}_logs_raw (\n{cols}\n)\n"
        "OPTIONS (\n"
        "  format = 'NEWLINE_DELIMITED_JSON',\n"
        "  compression = 'GZIP',\n"
        f"  uris = [{backslash_string(uri(target))}],\n"
        "  ignore_unknown_values = true\n"
        ");"
    )


def view(target: Target) -> str:
    """The view to query: batch files only, with day, hour and hour_start from the path."""
    fields = columns("bigquery", target.policy)
    found = f"REGEXP_EXTRACT(_FILE_NAME, {_raw(paths.batch_file_regex())})"
    hour_start = f"PARSE_TIMESTAMP({backslash_string(paths.hour_strptime())}, {found})"
    select = [f"  {name}" for name, _, _ in fields] + [
        f"  DATE({hour_start}) AS day",
        f"  EXTRACT(HOUR FROM {hour_start}) AS hour",
        f"  {hour_start} AS hour_start",
    ]
    return (
        f"CREATE OR REPLACE VIEW {target.name}_logs AS\nSELECT\n"
        + ",\n".join(select)
        + f"\nFROM {target.name}_logs_raw\n"
        + f"WHERE REGEXP_CONTAINS(_FILE_NAME, {_raw(paths.batch_file_regex())});"
    )


def definitions(target: Target) -> str:
    """The whole BigQuery script for one integration."""
    notes = [
        "-- Run in the dataset that should hold them (bq query --dataset_id=DATASET), or",
        "-- qualify the two names. Query the view: rows of _rejects_* files are left out.",
        "-- No file pruning with this layout: BigQuery's hive partitioning needs key=value",
        "-- folders and YYYY/MM/DD are not; day, hour and hour_start come from _FILE_NAME,",
        "-- so a filter on them filters rows, but every batch file is still read.",
    ]
    if target.value("endpoint_url"):
        notes.append("-- endpoint_url is not used: BigQuery reads the bucket in Cloud Storage.")
    blocks = ["\n".join([*header(target, "bigquery"), *notes]), table(target), view(target)]
    return "\n\n".join(blocks) + "\n"
