"""Synapse serverless SQL: a view over ``OPENROWSET(BULK …)`` of every batch file.

Each line is read whole as one ``doc`` column (the documented JSON Lines pattern: FORMAT CSV
with 0x0b as field terminator and quote), then ``OPENJSON`` types the 19 fields. The wildcards
of the path are exposed as ``filepath(n)`` columns: filters on them prune folders, as
Microsoft documents for partitioned views.
"""

from __future__ import annotations

from prism_dagster.queries import paths
from prism_dagster.queries.columns import columns, sql_string
from prism_dagster.queries.target import Target, header

#: Placeholder -> the view's column for that wildcard of the path.
PATH_COLUMNS = {"YYYY": "year", "MM": "month", "DD": "day", "HH": "hour"}


def bulk_path(target: Target) -> str:
    """The BULK path: the container's URL, then every batch file under ``logs/``."""
    return target.logs_uri() + paths.batch_glob()


def view(target: Target) -> str:
    """``CREATE OR ALTER VIEW dbo.<name>_logs``."""
    fields = columns("synapse", target.policy)
    width = max(len(name) for name, _, _ in fields) + 2
    select = [f"    j.[{name}]" for name, _, _ in fields]
    for position, field in enumerate(paths.hour_fields(), start=1):
        select.append(f"    r.filepath({position}) AS [{PATH_COLUMNS[field]}]")
    typed = ",\n".join(
        f"    {f'[{name}]':<{width}} {kind} {sql_string('$.' + name)}" for name, kind, _ in fields
    )
    return (
        f"CREATE OR ALTER VIEW dbo.{target.name}_logs AS\nSELECT\n"
        + ",\n".join(select)
        + "\nFROM OPENROWSET(\n"
        + f"    BULK {sql_string(bulk_path(target))},\n"
        + "    FORMAT = 'CSV',\n"
        + "    FIELDTERMINATOR = '0x0b',\n"
        + "    FIELDQUOTE = '0x0b',\n"
        + "    DATA_COMPRESSION = 'GZIP'\n"
        + ") WITH (doc NVARCHAR(MAX)) AS r\n"
        + f"CROSS APPLY OPENJSON(r.doc) WITH (\n{typed}\n) AS j;"
    )


def definitions(target: Target) -> str:
    """The whole Synapse script for one integration."""
    names = ", ".join(f"[{PATH_COLUMNS[f]}]" for f in paths.hour_fields())
    notes = [
        "-- Run in a database of the serverless pool (not master). Reads only",
        f"-- {paths.batch_name_glob()}: never _manifest.json or _rejects_*.",
        f"-- {names} are the path's folders as text ('2026', '03', '31', '14'):",
        "-- filter on them as text, e.g. WHERE [year] = '2026' AND [month] = '03'",
        "-- AND [day] = '31' AND [hour] = '14', and Synapse reads only those folders.",
        "-- Access: with Microsoft Entra passthrough no credential is needed; with a SAS,",
        "-- CREATE DATABASE SCOPED CREDENTIAL (IDENTITY = 'SHARED ACCESS SIGNATURE',",
        "-- SECRET = '<your SAS token>') and an EXTERNAL DATA SOURCE over the container,",
        "-- then give OPENROWSET DATA_SOURCE and a BULK path relative to it.",
    ]
    blocks = ["\n".join([*header(target, "synapse"), *notes]), view(target)]
    return "\n\n".join(blocks) + "\n"
