"""An example for analysts to copy: a daily usage rollup built from the archive.

It reads a day of archived hours through the archive IO manager's ``load_input`` (checked
against each hour's manifest), so lineage shows gateway -> archive -> rollup.
"""

import warnings

import dagster as dg
import polars as pl

from prism_dagster.config import Integration
from prism_dagster.names import (
    ANALYTICS_GROUP,
    AssetJob,
    archive_key,
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


def rollup(day: str, records: pl.DataFrame) -> pl.DataFrame:
    """Requests, tokens, cost and errors per model and provider for one day, costliest first."""
    return (
        records.group_by("model", "provider")
        .agg(
            pl.len().cast(pl.Int64).alias("requests"),
            *(pl.col(c).sum() for c in ("input_tokens", "output_tokens", "total_tokens", "cost")),
            pl.col("is_error").sum().cast(pl.Int64).alias("errors"),
        )
        .with_columns(pl.lit(day).str.to_date().alias("day"))
        .select(name for name, *_ in USAGE_COLUMNS)
        .sort(["cost", "model", "provider"], descending=[True, False, False])
    )


# A day maps to its 24 hours; the first day may begin before the archive's first hour, whose
# missing hours are skipped. The parameter is Dagster beta: its notice is Dagster's, not the
# operator's to act on, so it is silenced here, where the code location loads.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    _HOURS_OF_THE_DAY = dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)


def build_usage_asset(integration: Integration) -> dg.AssetsDefinition:
    """``prism/usage_daily/<integration>``: one partition per UTC day of the archive."""
    source = archive_key(integration.name)
    schema = dg.TableSchema(
        columns=[dg.TableColumn(n, t, description=d) for n, t, d, _ in USAGE_COLUMNS]
    )
    lineage = dg.TableColumnLineage(
        deps_by_column={
            n: [dg.TableColumnDep(asset_key=source, column_name=c) for c in cols]
            for n, _, _, cols in USAGE_COLUMNS
        }
    )

    @dg.asset(
        key=usage_key(integration.name),
        description=f"Daily requests, tokens, cost and errors per model and provider, from the "
        f"archive of {integration.name!r}. An example to copy.",
        partitions_def=dg.DailyPartitionsDefinition(
            start_date=integration.first_hour.strftime("%Y-%m-%d")
        ),
        ins={"archive": dg.AssetIn(source, partition_mapping=_HOURS_OF_THE_DAY)},
        group_name=ANALYTICS_GROUP,
        kinds={"polars"},
        metadata={"dagster/column_schema": schema},
    )
    def usage_daily(context: dg.AssetExecutionContext, archive: pl.DataFrame) -> dg.Output:
        table = rollup(context.partition_key, archive)
        return dg.Output(
            table,
            metadata={
                "dagster/row_count": table.height,
                "dagster/column_lineage": lineage,
                "requests": int(table.get_column("requests").sum() or 0),
                "cost": float(table.get_column("cost").sum() or 0.0),
            },
        )

    return usage_daily


def build_usage_job(integration: Integration) -> AssetJob:
    """The job building an integration's daily rollup (the demo runs it)."""
    return dg.define_asset_job(
        usage_job_name(integration.name),
        selection=dg.AssetSelection.assets(usage_key(integration.name)),
        description=f"Daily usage rollup of integration {integration.name!r}.",
    )
