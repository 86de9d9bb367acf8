"""`prism-dagster lineage NAME HOUR`: one hour's chain from Dagster's records, for analysts."""

from __future__ import annotations

import json

from prism_dagster.archive import layout
from prism_dagster.archive.verify import Severity, verify_hour
from prism_dagster.cli.demo import PRISM_DIR, dagster_instance
from prism_dagster.config import PrismConfig, find_integration, parse_hour
from prism_dagster.defs.resources import live, live_archive
from prism_dagster.errors import PrismError
from prism_dagster.lifecycle.lineage import HourLineage, hour_lineage
from prism_dagster.names import archive_key
from prism_dagster.sources.base import fingerprint_change


def lineage(config: PrismConfig, name: str, hour_text: str) -> HourLineage:
    """The chain for integration ``name`` and UTC hour ``hour_text`` (e.g. 2026-03-31T14)."""
    hour = parse_hour(hour_text)
    integration = find_integration(config, name)
    archive = live_archive(integration)
    try:
        now = live(config.source.log_source()).fingerprints(hour, hour + layout.ONE_HOUR)
    except PrismError:
        now = {}  # an unreachable source: "now" is unknown, the rest of the chain still holds
    # Complete means what the reconciliation check proves: every object there, matching.
    report = verify_hour(archive, hour, now.get(hour))
    problems = [f.message for f in report.findings if f.severity is Severity.ERROR]
    instance = dagster_instance(PRISM_DIR)
    asset = archive_key(integration)
    return hour_lineage(instance, archive, asset, hour, now.get(hour), problems)


def render(chain: HourLineage, as_json: bool) -> str:
    """The chain for people, or JSON for scripts."""
    if as_json:
        return json.dumps(chain.to_json(), indent=2)
    lines = [f"{chain.integration} {chain.hour} (partition {chain.partition})"]
    lines.append(
        "  complete: yes" if chain.complete else "  complete: NO: " + "; ".join(chain.problems)
    )
    if chain.fingerprint_archived is None:
        source = "the hour is not archived"
    elif chain.fingerprint_now is None:
        source = "the source could not be read now"
    elif chain.current:
        source = "unchanged since archived"
    else:
        change = fingerprint_change(chain.fingerprint_archived, chain.fingerprint_now)
        source = f"changed since archived, late rows waiting: {change}"
    lines += [
        f"  source:   archived {chain.fingerprint_archived or '-'}",
        f"            now      {chain.fingerprint_now or '-'} ({source})",
        f"  manifest: {chain.manifest}",
        f"  objects:  {len(chain.objects)}",
    ]
    lines += [
        f"    {o['uri']}  {o['rows']} rows  {o['bytes']} bytes  sha256 {o['sha256']}"
        for o in chain.objects
    ]
    lines.append(f"  written by {len(chain.writes)} run(s), oldest first:")
    lines += [
        f"    {w.at}  run {w.run_id}  {w.launched_by}  rows {w.rows if w.rows is not None else '-'}"
        f"  source {w.source_fingerprint or '-'}"
        for w in chain.writes
    ]
    return "\n".join(lines)
