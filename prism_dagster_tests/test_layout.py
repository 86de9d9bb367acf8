"""The archive path layout, batch ids and hour arithmetic."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from prism_dagster.archive import layout
from prism_dagster_tests.support.rows import hour


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-03-31T23", "prism/production/logs/2026/03/31/hour=23"),
        ("2026-04-01T00", "prism/production/logs/2026/04/01/hour=00"),
        ("2026-12-31T23", "prism/production/logs/2026/12/31/hour=23"),
        ("2027-01-01T00", "prism/production/logs/2027/01/01/hour=00"),
        ("2028-02-29T07", "prism/production/logs/2028/02/29/hour=07"),
    ],
)
def test_hour_dir_across_day_month_and_year_boundaries(moment: str, expected: str) -> None:
    assert layout.hour_dir("prism/production", hour(moment)) == expected


def test_no_prefix_starts_at_logs() -> None:
    key = layout.batch_key("", "prod", hour("2026-03-31T14"), 0, "c1")
    assert key.startswith("logs/2026/03/31/hour=14/batch_")
    assert key.endswith(".jsonl.gz")


def test_hour_is_taken_in_utc_whatever_the_input_zone() -> None:
    local = datetime(2026, 4, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert layout.hour_dir("p", local) == "p/logs/2026/03/31/hour=23"


def test_batch_ids_are_deterministic_and_distinct() -> None:
    h = hour("2026-03-31T14")
    first = layout.batch_id("prod", h, 0, "c1")
    assert first == layout.batch_id("prod", h + timedelta(minutes=59), 0, "c1")
    assert len(first) == 12 and int(first, 16) >= 0
    others = {
        layout.batch_id("prod", h, 1, "c1"),
        layout.batch_id("staging", h, 0, "c1"),
        layout.batch_id("prod", h + timedelta(hours=1), 0, "c1"),
        layout.batch_id("prod", h, 0, "c2"),  # other rows: other keys
    }
    assert first not in others and len(others) == 4


def test_hours_between_is_half_open() -> None:
    hours = list(layout.hours_between(hour("2026-03-31T22"), hour("2026-04-01T01")))
    assert hours == [hour("2026-03-31T22"), hour("2026-03-31T23"), hour("2026-04-01T00")]


def test_only_batch_files_count_as_batches() -> None:
    folder = "p/logs/2026/03/31/hour=14"
    assert layout.is_batch_key(f"{folder}/batch_0123456789ab.jsonl.gz")
    assert not layout.is_batch_key(f"{folder}/{layout.MANIFEST_NAME}")
    assert not layout.is_batch_key(f"{folder}/{layout.REJECTS_PREFIX}0123456789ab.jsonl.gz")
    assert layout.is_rejects_key(f"{folder}/{layout.REJECTS_PREFIX}0123456789ab.jsonl.gz")
    assert not layout.is_batch_key(f"{folder}/{layout.LEASE_NAME}")
    assert not layout.is_batch_key(f"{folder}/.batch_0123456789ab.jsonl.gz.tmp-1")


def test_only_the_hours_own_names_directly_in_its_folder_are_its_objects() -> None:
    h = hour("2026-03-31T14")
    folder = layout.hour_dir("p", h)
    below = f"{folder}/x/logs/2026/03/31/hour=14"  # another integration's prefix "p/…/x"
    keys = [
        f"{folder}/batch_0123456789ab.jsonl.gz",
        f"{folder}/_rejects_0123456789ab.jsonl.gz",
        f"{folder}/_lease.claim-{'0' * 32}.json",
        f"{folder}/batch_notes.jsonl.gz",  # an operator's file, not a name we give
        f"{below}/batch_0123456789ab.jsonl.gz",
        f"{layout.hour_dir('p', hour('2026-03-31T15'))}/batch_0123456789ab.jsonl.gz",
    ]
    own = layout.in_hour("p", h, keys)
    assert own == keys[:4]
    assert [layout.is_batch_key(k) for k in own] == [True, False, False, False]
    assert [layout.is_rejects_key(k) for k in own] == [False, True, False, False]
    assert [layout.is_lease_claim_key(k) for k in own] == [False, False, True, False]
