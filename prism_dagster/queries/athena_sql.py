"""Athena: an external table with partition projection over ``…/logs/${day}/hour=${hour}/``.

Each partition is one hour folder, which also holds ``_manifest.json`` and, when lines were
rejected, ``_rejects_<id>.jsonl.gz``. Athena's engine (Trino's Hive connector) skips names
starting with ``_`` or ``.`` as Hive does, but AWS's documentation promises to read every
file of a location; so the ``<name>_logs`` view keeps only archived records: every archived
field is non-null, while a rejects line read by the JSON SerDe has none of the 19 keys and
would come back as a row of NULLs.
"""

from __future__ import annotations

from prism_dagster.queries import paths
from prism_dagster.queries.columns import backslash_string, columns, sql_string
from prism_dagster.queries.target import Target, header

SERDE = "org.openx.data.jsonserde.JsonSerDe"
INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


def _properties(target: Target) -> list[tuple[str, str]]:
    location, day_format, hour_digits = paths.day_and_hour_template()
    first_day = target.integration.first_hour.strftime(
        day_format.replace("yyyy", "%Y").replace("MM", "%m").replace("dd", "%d")
    )
    return [
        ("projection.enabled", "true"),
        ("projection.day.type", "date"),
        ("projection.day.format", day_format),
        ("projection.day.range", f"{first_day},NOW"),
        ("projection.day.interval", "1"),
        ("projection.day.interval.unit", "DAYS"),
        ("projection.hour.type", "integer"),
        ("projection.hour.range", "0,23"),
        ("projection.hour.digits", hour_digits),
        ("storage.location.template", target.logs_uri() + location + "/"),
    ]


def table(target: Target) -> str:
    """``CREATE EXTERNAL TABLE <name>_logs_raw``: every file of the projected hour folders."""
    fields = columns("athena", target.policy)
    width = max(len(name) for name, _, _ in fields) + 2
    cols = ",\n".join(
        f"  {f'`{name}`':<{width}} {kind} COMMENT {backslash_string(text)}"
        for name, kind, text in fields
    )
    props = ",\n".join(f"  {sql_string(k)} = {sql_string(v)}" for k, v in _properties(target))
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {target.name}_logs_raw (\n{cols}\n)\n"
        "PARTITIONED BY (\n"
        "  `day` string COMMENT 'UTC day of the hour folder, yyyy/MM/dd',\n"
        "  `hour` int COMMENT 'UTC hour of day of the hour folder, 0-23'\n"
        ")\n"
        f"ROW FORMAT SERDE {sql_string(SERDE)}\n"
        f"STORED AS INPUTFORMAT {sql_string(INPUT_FORMAT)}\n"
        f"OUTPUTFORMAT {sql_string(OUTPUT_FORMAT)}\n"
        f"LOCATION {sql_string(target.logs_uri())}\n"
        f"TBLPROPERTIES (\n{props}\n);"
    )


def view(target: Target) -> str:
    """The view to query: archived records only, whatever else a partition folder holds."""
    return (
        f"CREATE OR REPLACE VIEW {target.name}_logs AS\n"
        f"SELECT * FROM {target.name}_logs_raw\n"
        f"WHERE {_never_null(target)} IS NOT NULL;"
    )


def _never_null(target: Target) -> str:
    """A field every record holds (never NULL): request_id, else timestamp (never excluded)."""
    return "request_id" if "request_id" in target.policy.columns else "timestamp"


def definitions(target: Target) -> str:
    """The whole Athena script for one integration."""
    notes = [
        "-- Run the two statements one by one (Athena runs one statement per query).",
        "-- Query the view: WHERE day = '2026/03/31' AND hour = 14 reads that hour's folder",
        "-- only (partition projection; day is text yyyy/MM/dd, ranges compare as text).",
        "-- gzip is read from the .gz extension. Each hour folder also holds _manifest.json and",
        "-- sometimes _rejects_*.jsonl.gz: Athena's engine skips names starting with _ (Hive's",
        "-- hidden files), but AWS documents that a location's files are all read; a rejects",
        "-- line has none of the record's keys and would be a row of NULLs, so the view keeps",
        f"-- rows with a {_never_null(target)} (never NULL in an archived record).",
    ]
    if target.value("endpoint_url"):
        notes.append("-- endpoint_url is not used: Athena reads the bucket in Amazon S3.")
    blocks = ["\n".join([*header(target, "athena"), *notes]), table(target), view(target)]
    return "\n\n".join(blocks) + "\n"
