"""The daily usage rollup: built from the archive through the IO manager, lineage to it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from prism_dagster.config import parse_config
from prism_dagster.definitions import build_definitions
from prism_dagster.names import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    archive_job_name,
    archive_key,
    usage_job_name,
    usage_key,
)
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.archive_reader import read_archive_lines
from prism_dagster_tests.support.rows import hour


def _defs(spool: Path, archive: Path, start: str) -> dg.Definitions:
    raw = {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [
            {"name": "prod", "provider": "local", "path": str(archive), "start": start}
        ],
    }
    return build_definitions(parse_config(raw))


def _archive(defs: dg.Definitions, instance: dg.DagsterInstance, first: str, last: str) -> None:
    tags = {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last}
    job = defs.resolve_job_def(archive_job_name("prod"))
    assert job.execute_in_process(instance=instance, tags=tags).success


def _expected(archive: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The rollup computed from the archive's own lines, with the standard library."""
    totals: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for lines in read_archive_lines(archive).values():
        for line in lines:
            t = totals[(line["model"], line["provider"])]
            t["requests"] += 1
            t["total_tokens"] += line["total_tokens"]
            t["cost"] += line["cost"]
            t["errors"] += line["is_error"]
    return totals


def test_the_rollup_sums_a_day_of_the_archive_per_model(spool: Path, tmp_path: Path) -> None:
    simulate(spool, hour("2026-03-31T20"), hour("2026-04-01T00"), rate=80, seed=9)
    simulate(spool, hour("2026-04-01T00"), hour("2026-04-01T02"), rate=80, seed=10)  # next day
    defs = _defs(spool, tmp_path / "archive", "2026-03-31T20")  # the first day is partial
    with dg.instance_for_test() as instance:
        _archive(defs, instance, "2026-03-31-20:00", "2026-03-31-23:00")
        expected = _expected(tmp_path / "archive")  # the next day is not archived yet
        _archive(defs, instance, "2026-04-01-00:00", "2026-04-01-01:00")
        job = defs.resolve_job_def(usage_job_name("prod"))
        result = job.execute_in_process(instance=instance, partition_key="2026-03-31")
        table = result.output_for_node(usage_key("prod").to_python_identifier())
        [event] = result.asset_materializations_for_node(usage_key("prod").to_python_identifier())
    got = {(r["model"], r["provider"]): r for r in table.iter_rows(named=True)}
    assert sorted(got) == sorted(expected) and len(got) > 1
    for key, row in got.items():
        assert row["requests"] == expected[key]["requests"], key
        assert row["total_tokens"] == expected[key]["total_tokens"], key
        assert row["cost"] == pytest.approx(expected[key]["cost"]), key
        assert row["errors"] == expected[key]["errors"], key
        assert str(row["day"]) == "2026-03-31"
    costs = table.get_column("cost").to_list()
    assert costs == sorted(costs, reverse=True)  # costliest first
    assert event.metadata["dagster/row_count"].value == table.height


def test_lineage_runs_gateway_to_archive_to_rollup(tmp_path: Path) -> None:
    defs = _defs(tmp_path / "spool", tmp_path / "archive", "2026-03-31T00")
    with dg.instance_for_test():
        graph = defs.resolve_asset_graph()
        rollup = defs.resolve_assets_def(usage_key("prod"))
    assert graph.get(usage_key("prod")).parent_keys == {archive_key("prod")}
    schema = rollup.metadata_by_key[usage_key("prod")]["dagster/column_schema"]
    assert [c.name for c in schema.columns][:3] == ["day", "model", "provider"]


def test_a_day_built_from_part_of_its_hours_says_so_and_follows_when_they_arrive(
    spool: Path, tmp_path: Path
) -> None:
    simulate(spool, hour("2026-03-31T00"), hour("2026-04-01T00"), rate=20, seed=4)
    defs = _defs(spool, tmp_path / "archive", "2026-03-31T00")
    usage = usage_key("prod")
    with dg.instance_for_test() as instance:
        _archive(defs, instance, "2026-03-31-00:00", "2026-03-31-06:00")  # 7 of 24 hours
        job = defs.resolve_job_def(usage_job_name("prod"))
        result = job.execute_in_process(instance=instance, partition_key="2026-03-31")
        [partial] = result.asset_materializations_for_node(usage.to_python_identifier())
        # Dagster's automation: nothing to do while hours are missing...
        waiting = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        _archive(defs, instance, "2026-03-31-07:00", "2026-03-31-23:00")  # the rest, later
        # ...and the day is requested again once its hours are all archived.
        ready = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=waiting.cursor
        )
    meta = {k: v.value for k, v in partial.metadata.items()}
    assert (meta["hours_archived"], meta["complete"]) == ("7 of 24", False)
    assert meta["hours_missing"][0] == "2026-03-31T07:00Z" and len(meta["hours_missing"]) == 17
    assert waiting.get_requested_partitions(usage) == set()
    assert ready.get_requested_partitions(usage) == {"2026-03-31"}
