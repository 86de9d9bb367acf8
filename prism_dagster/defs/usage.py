"""An example for analysts to copy: a daily usage rollup built from the archive.

It reads a day of archived hours through the archive IO manager's ``load_input`` (checked
against each hour's manifest), so lineage shows gateway -> archive -> rollup.
"""

import warnings
from datetime import datetime

import dagster as dg
import polars as pl

from prism_dagster.archive import layout
from prism_dagster.config import Integration
from prism_dagster.defs.metadata import COST_DECIMALS
from prism_dagster.names import (
    ANALYTICS_GROUP,
    USAGE_AUTOMATION_SENSOR,
    AssetJob,
    archive_key,
    hour_text,
    partition_key,
    sensor_name,
    usage_job_name,
    usage_key,
)

#: The rollup's columns: (name, type, description, archive columns it comes from).
USAGE_COLUMNS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("day", "date", "UTC day of the requests.", ("timestamp",)),
    ("model", "string", "Model name the caller asked for.", ("model",)),
    ("provider", "string", "Provider that served the requests.", ("provider",)),
    ("requests", "int64", "Requests that day.", ("request_id",)),
    ("input_tokens", "int64", "Prompt tokens billed.", ("input_tokens",)),
    ("output_tokens", "int64", "Completion tokens billed.", ("output_tokens",)),
    ("total_tokens", "int64", "Input plus output tokens.", ("total_tokens",)),
    ("cost", "float64", "Total price, in the archive's cost currency.", ("cost",)),
    ("errors", "int64", "Requests that failed.", ("is_error",)),
)
SUMMED = ("input_tokens", "output_tokens", "total_tokens", "cost")


def usage_columns(written: list[str]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """The rollup's columns an archive holding ``written`` fields feeds (its fields policy).

    ``day`` comes from the partition and ``requests`` counts rows: both are always there.
    """
    return [c for c in USAGE_COLUMNS if c[0] in ("day", "requests") or set(c[3]) <= set(written)]


def rollup(day: str, records: pl.DataFrame) -> pl.DataFrame:
    """Requests, tokens, cost and errors per model and provider for one day, costliest first.

    A field the integration excludes is left out of the rollup, not summed as zeros.
    """
    names = [name for name, *_ in usage_columns(records.columns)]
    keys = [c for c in ("model", "provider") if c in names]
    sums = [pl.col(c).sum() for c in names if c in SUMMED]
    if "errors" in names:
        sums.append(pl.col("is_error").sum().cast(pl.Int64).alias("errors"))
    counts = [pl.len().cast(pl.Int64).alias("requests"), *sums]
    table = records.group_by(keys).agg(counts) if keys else records.select(counts)
    table = table.with_columns(pl.lit(day).str.to_date().alias("day")).select(names)
    order = [c for c in ("cost", *keys) if c in names]
    return table.sort(order, descending=[c == "cost" for c in order]) if order else table


# A day maps to its 24 hours; the first day may begin before the archive's first hour, whose
# missing hours are skipped. The parameter is Dagster beta: its notice is Dagster's, not the
# operator's to act on, so it is silenced here, where the code location loads.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    _HOURS_OF_THE_DAY = dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)


#: Dagster's automation rebuilds a day once all its hours are archived, and again when any of
#: them is archived again (a backfill filling the day, late rows), on any day, not only the
#: latest; never while an hour is missing or being written. ``eager()`` without its
#: latest-window and newly-missing parts: a day nobody archived is not built on its own.
FOLLOWS_ITS_HOURS = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("when its hours are archived")


def build_usage_asset(integration: Integration) -> dg.AssetsDefinition:
    """``prism/usage_daily/<integration>``: one partition per UTC day of the archive."""
    source = archive_key(integration)
    written = integration.fields.policy().columns
    columns = usage_columns(written)
    schema = dg.TableSchema(columns=[dg.TableColumn(n, t, description=d) for n, t, d, _ in columns])
    lineage = dg.TableColumnLineage(
        deps_by_column={
            n: [dg.TableColumnDep(asset_key=source, column_name=c) for c in cols if c in written]
            for n, _, _, cols in columns
        }
    )

    @dg.asset(
        key=usage_key(integration),
        description=f"Daily requests, tokens, cost and errors per model and provider, from the "
        f"archive of {integration.name!r}. An example to copy.",
        partitions_def=dg.DailyPartitionsDefinition(
            start_date=integration.first_hour.strftime("%Y-%m-%d")
        ),
        ins={"archive": dg.AssetIn(source, partition_mapping=_HOURS_OF_THE_DAY)},
        group_name=ANALYTICS_GROUP,
        kinds={"polars"},
        metadata={"dagster/column_schema": schema},
        automation_condition=FOLLOWS_ITS_HOURS,
    )
    def usage_daily(context: dg.AssetExecutionContext, archive: pl.DataFrame) -> dg.Output:
        table = rollup(context.partition_key, archive)
        covered, hours = day_coverage(context, integration)
        metadata = {
            "hours_archived": f"{len(covered)} of {len(hours)}",
            "complete": len(covered) == len(hours),
            "dagster/row_count": table.height,
            "requests": int(table.get_column("requests").sum() or 0),
        }
        if "cost" in table.columns:  # not when the integration excludes it
            metadata["cost"] = round(float(table.get_column("cost").sum() or 0.0), COST_DECIMALS)
        missing = [hour_text(h) for h in hours if h not in covered]
        if missing:
            metadata["hours_missing"] = dg.MetadataValue.json(missing)
        metadata["dagster/column_lineage"] = lineage
        return dg.Output(table, metadata=metadata)

    return usage_daily


def day_coverage(
    context: dg.AssetExecutionContext, integration: Integration
) -> tuple[set[datetime], list[datetime]]:
    """The day's hours that are archive partitions, and those of them archived so far."""
    window = context.partition_time_window
    start = max(window.start, integration.first_hour)
    hours = list(layout.hours_between(start, window.end))
    done = context.instance.get_materialized_partitions(archive_key(integration))
    return {h for h in hours if partition_key(h) in done}, hours


def build_usage_automation(namespace: str, usage: list[dg.AssetKey]) -> dg.SensorDefinition:
    """The sensor evaluating ``FOLLOWS_ITS_HOURS``: Dagster's default one starts stopped, so a
    day would not follow its hours until someone turned it on."""
    return dg.AutomationConditionSensorDefinition(
        sensor_name(namespace, USAGE_AUTOMATION_SENSOR),
        target=dg.AssetSelection.assets(*usage),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Rebuilds each day's usage rollup once its hours are archived.",
    )


def build_usage_job(integration: Integration) -> AssetJob:
    """The job building an integration's daily rollup (the demo runs it)."""
    return dg.define_asset_job(
        usage_job_name(integration),
        selection=dg.AssetSelection.assets(usage_key(integration)),
        description=f"Daily usage rollup of integration {integration.name!r}.",
    )
