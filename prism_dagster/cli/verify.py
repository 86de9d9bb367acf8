"""`prism-dagster verify NAME [--from HOUR] [--to HOUR]`: the ``archive_complete`` judgement
of every hour in a range, from a terminal (an audit, a cron job).

Each hour is proven as the Dagster check proves it (``archive.verify.verify_hour``): its
manifest, every object's size, SHA-256 and lines, the totals, and the source's fingerprint
now. ERROR findings fail the command; WARN findings (late rows waiting, the source unreadable
now, an object the manifest does not list) are printed and counted, and do not.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from prism_dagster.cli.arguments import (
    FINE,
    PROBLEM,
    add_command,
    add_config_option,
    add_name_argument,
    exit_codes,
    hour_argument,
)

if TYPE_CHECKING:  # the command's imports are heavy: made when it runs, not at --help
    from prism_dagster.archive.archive import Archive
    from prism_dagster.archive.verify import HourReport
    from prism_dagster.config import Integration, PrismConfig

#: Hours verified when no --from is given: the last day's closed hours.
DEFAULT_HOURS = 24

EPILOG = f"""\
Range: --from and --to are UTC hours, both included (--from 2026-03-31T00
--to 2026-03-31T23 verifies that day). Without --from: the {DEFAULT_HOURS} hours that
end with --to, or with the latest closed hour (an hour closes once its
grace_minutes have passed). Without --to: up to the latest closed hour.
Never before the integration's first hour.

""" + exit_codes(
    "no hour has an ERROR; hours with WARN findings only (late rows waiting, the source "
    "unreadable now, an object the manifest does not list) are printed, counted, and fine",
    "an hour has an ERROR (not archived, an object missing or corrupt, totals that do not "
    "add up), or the destination could not be read",
)


def hour_range(
    first_hour: datetime,
    closed_until: datetime,
    start: datetime | None,
    last: datetime | None,
) -> tuple[datetime, datetime]:
    """``[start, end)`` to verify: ``--from``/``--to`` (both included), else the default,
    never before ``first_hour`` (earlier hours are no partitions of the archive)."""
    end = last + timedelta(hours=1) if last else closed_until
    start = start or end - timedelta(hours=DEFAULT_HOURS)
    return max(start, first_hour), end


def run(args: argparse.Namespace) -> int:
    """Verify each hour of the range, print its verdict and a summary; 1 on any ERROR."""
    from prism_dagster.archive.verify import Severity
    from prism_dagster.clock import utc_now
    from prism_dagster.config import find_integration, load_config
    from prism_dagster.defs.resources import live_archive
    from prism_dagster.lifecycle.catchup import closed_until
    from prism_dagster.names import hour_text

    config = load_config(args.config)
    integration = find_integration(config, args.name)
    first = integration.first_hour
    start, end = hour_range(first, closed_until(integration, utc_now()), args.start, args.to)
    last = end - timedelta(hours=1)
    if start > last:
        args.usage(
            f"no hour to verify from {hour_text(start)} to {hour_text(last)}: --to is before "
            f"--from, or before {args.name}'s first hour {hour_text(first)}"
        )
    archive = live_archive(integration)
    hours = (end - start) // timedelta(hours=1)
    print(
        f"verifying {args.name!r} ({archive.prefix_uri()}): {hours} hour(s), "
        f"{hour_text(start)} to {hour_text(last)}"
    )
    counts = dict.fromkeys(Severity, 0)
    for report in _reports(config, integration, archive, start, end):
        print(report.summary())
        counts[report.severity] += 1
    failed = counts[Severity.ERROR]
    print(
        f"result: {'FAILED' if failed else 'OK'}: {hours} hour(s): {counts[Severity.PASS]} "
        f"complete, {counts[Severity.WARN]} with warnings, {failed} with errors"
    )
    return PROBLEM if failed else FINE


def _reports(
    config: PrismConfig, integration: Integration, archive: Archive, start: datetime, end: datetime
) -> Iterator[HourReport]:
    """Each hour's report, the source read as the check reads it (``max_hours_per_run``
    hours at a time), so a long range never holds more than that in memory."""
    from prism_dagster.archive import layout
    from prism_dagster.archive.verify import verify_hour
    from prism_dagster.defs.resources import live
    from prism_dagster.errors import PrismError

    source = live(config.source.log_source())
    step = config.catch_up.max_hours_per_run * layout.ONE_HOUR
    while start < end:
        stop = min(end, start + step)
        try:
            now = source.fingerprints(start, stop)
        except PrismError as exc:  # the archive can still be proven; late rows cannot
            print(f"WARN: could not read {source.describe()} now: {exc}")
            now = {}
        for hour in layout.hours_between(start, stop):
            yield verify_hour(archive, hour, now.get(hour))
        start = stop


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``verify`` on the top-level parser's subcommands."""
    cmd = add_command(
        sub,
        "verify",
        "prove a range of archived hours as the archive_complete check does",
        EPILOG,
        run,
    )
    add_name_argument(cmd)
    cmd.add_argument(
        "--from", dest="start", type=hour_argument, metavar="HOUR", help="first UTC hour"
    )
    cmd.add_argument("--to", type=hour_argument, metavar="HOUR", help="last UTC hour (included)")
    add_config_option(cmd)
