"""The per-hour reconciliation check: proves each archived hour from its manifest, its
objects and the source (``archive.verify`` does the proving; this presents it to Dagster)."""

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import dagster as dg

# The documented ``target_materialization_data`` parameter of the public AssetCheckEvaluation
# takes this type, which Dagster does not export; without it a partition's check result is
# cleared in the UI as if a newer materialization existed. The one import of Dagster internals.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from prism_dagster.archive import layout
from prism_dagster.archive.archive import Archive
from prism_dagster.archive.verify import HourReport, Severity, verify_hour
from prism_dagster.config import Integration
from prism_dagster.defs.failures import reported_as_failure
from prism_dagster.defs.metadata import place
from prism_dagster.errors import PrismError
from prism_dagster.lifecycle.lineage import materializations, recorded
from prism_dagster.names import (
    ARCHIVE_COMPLETE_CHECK,
    SOURCE_FINGERPRINT_KEY,
    archive_key,
    destination_key,
    destination_pool,
    hour_text,
    hourly_partitions,
    partition_hour,
    partition_key,
    source_resource_key,
)
from prism_dagster.sources.base import LogSource


def build_archive_complete_check(
    integration: Integration, hours_per_read: int
) -> dg.AssetChecksDefinition:
    """Prove each hour of a run: manifest, objects (SHA-256, lines), totals, source unchanged.

    Partitioned like the archive, and run after it in the same run: in a run over many hours
    (a backfill, the asset page's Materialize over a range, a job selecting the asset and this
    check) it reports one result per hour. Dagster's ``AssetCheckResult`` carries no partition
    (it takes the run's one partition key, and none in a range run), so each hour's result is an
    ``AssetCheckEvaluation`` naming its partition and the materialization it checked. The
    source is read ``hours_per_read`` hours at a time (``catch_up.max_hours_per_run``, as the
    archive reads it).
    """
    key = destination_key(integration)
    asset = archive_key(integration)
    source_resource = source_resource_key(integration.namespace)

    # partitions_def on an asset check is a Dagster preview: its notice is Dagster's, not
    # something the operator can act on, so it is silenced here, where the location loads.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=dg.PreviewWarning)

        @dg.asset_check(
            asset=asset,
            name=ARCHIVE_COMPLETE_CHECK,
            description="Proves each archived hour: its manifest is there; every object it "
            "lists is there with its size, SHA-256 and line count; the row totals add up; and "
            "the source's fingerprint of the hour still equals the archived one. ERROR: "
            "missing or corrupt objects, wrong counts, or the hour not archived. WARN: rows "
            "arrived in the source after the hour was archived.",
            partitions_def=hourly_partitions(integration.first_hour),
            required_resource_keys={key, source_resource},
            blocking=False,
            pool=destination_pool(integration),
        )
        def archive_complete(
            context: dg.AssetCheckExecutionContext,
        ) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
            archive = Archive(integration.name, getattr(context.resources, key), integration.prefix)
            source: LogSource = getattr(context.resources, source_resource)
            if context.has_partition_key or context.has_partition_key_range:
                window = context.partition_time_window
                first, end = window.start, window.end
            else:
                # The Checks tab's "Execute all" names no hour: judge the newest archived one.
                latest = _latest_archived(context.instance, asset)
                if latest is None:
                    context.log.info(f"{ARCHIVE_COMPLETE_CHECK}: no hour is archived yet")
                    yield dg.Output(None)
                    return
                first, end = latest, latest + layout.ONE_HOUR
            with reported_as_failure():
                for start, stop in _chunks(first, end, hours_per_read):
                    hours = list(layout.hours_between(start, stop))
                    checked = {h: _latest(context.instance, asset, h) for h in hours}
                    # An hour this run just wrote was fingerprinted moments ago, from the rows
                    # it archived: the source is read again only for hours written earlier.
                    now = {h: r.fingerprint for h, r in checked.items() if r and r.ours(context)}
                    if len(now) < len(hours):
                        now = {**_fingerprints(context, source, start, stop), **now}
                    for hour in hours:
                        report = verify_hour(archive, hour, now.get(hour))
                        context.log.info(report.summary().replace("\n", " "))
                        yield _evaluation(asset, report, checked[hour])
            # The check's one output, which Dagster requires; the results are the evaluations.
            yield dg.Output(None)

    return archive_complete


def _latest_archived(instance: dg.DagsterInstance, asset: dg.AssetKey) -> datetime | None:
    """The newest hour with a materialization, if any."""
    done = instance.get_materialized_partitions(asset)
    return max((partition_hour(k) for k in done), default=None)


def _chunks(start: datetime, end: datetime, hours: int) -> Iterator[tuple[datetime, datetime]]:
    while start < end:
        yield start, min(end, start + hours * layout.ONE_HOUR)
        start += hours * layout.ONE_HOUR


def _fingerprints(
    context: dg.AssetCheckExecutionContext, source: LogSource, start: datetime, end: datetime
) -> dict[datetime, str]:
    """Each hour's source fingerprint now; empty (each hour: WARN) when it cannot be read."""
    try:
        return source.fingerprints(start, end)
    except PrismError as exc:  # the archive can still be proven; the source is the runs' to report
        context.log.warning(f"could not read {source.describe()}: {exc}")
        return {}


def _evaluation(
    asset: dg.AssetKey, report: HourReport, checked: "_Checked | None"
) -> dg.AssetCheckEvaluation:
    """One hour's verdict as the check result of its partition."""
    partition = partition_key(report.hour)
    return dg.AssetCheckEvaluation(
        asset_key=asset,
        check_name=ARCHIVE_COMPLETE_CHECK,
        passed=report.passed,
        severity=(
            dg.AssetCheckSeverity.ERROR
            if report.severity is Severity.ERROR
            else dg.AssetCheckSeverity.WARN
        ),
        description=report.summary(),
        metadata={
            "hour": hour_text(report.hour),
            "manifest": place(report.manifest_uri),
            "objects_checked": report.objects_checked,
            "rows": report.rows,
            "rejected_rows": report.rejected_rows,
            "manifest_rows": report.manifest_rows if report.manifest_rows is not None else "-",
            "objects_with_problems": ", ".join(report.objects_with_problems) or "-",
            "errors": sum(f.severity is Severity.ERROR for f in report.findings),
            "warnings": sum(f.severity is Severity.WARN for f in report.findings),
            "archived_fingerprint": report.archived_fingerprint or "-",
            "source_fingerprint_now": report.current_fingerprint or "-",
        },
        partition=partition,
        target_materialization_data=checked.target if checked else None,
        blocking=False,
    )


@dataclass(frozen=True)
class _Checked:
    """The hour's latest materialization: the one an evaluation speaks for."""

    target: AssetCheckEvaluationTargetMaterializationData
    fingerprint: str | None

    def ours(self, context: dg.AssetCheckExecutionContext) -> bool:
        """Whether this very run wrote it (and so fingerprinted the source just now)."""
        return self.target.run_id == context.run.run_id and self.fingerprint is not None


def _latest(instance: dg.DagsterInstance, asset: dg.AssetKey, hour: datetime) -> _Checked | None:
    found = materializations(instance, asset, hour)
    if not found:
        return None
    return _Checked(
        AssetCheckEvaluationTargetMaterializationData(
            storage_id=found[0].storage_id, run_id=found[0].run_id, timestamp=found[0].timestamp
        ),
        recorded(found[0], SOURCE_FINGERPRINT_KEY),
    )
