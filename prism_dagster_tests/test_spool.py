"""The spool source: event-time windows, gzip files and malformed lines kept, never dropped."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from prism_dagster.sources import SpoolSource
from prism_dagster_tests.support.rows import gateway_row, hour, write_spool
from prism_dagster_tests.support.runs import materialise

H14, H15 = hour("2026-03-31T14"), hour("2026-03-31T15")


def test_window_is_half_open_on_event_time(spool: Path) -> None:
    write_spool(
        spool / "a.ndjson",
        [
            gateway_row("before", "2026-03-31T13:59:59.999Z"),
            gateway_row("first", "2026-03-31T14:00:00.000Z"),
            gateway_row("last", "2026-03-31T14:59:59.999Z"),
            gateway_row("after", "2026-03-31T15:00:00.000Z"),
            # started_at wins over created_at, which is in another hour
            gateway_row("started", "2026-03-31T14:30:00Z", created_at="2026-03-31T15:00:01Z"),
            gateway_row("created", None, created_at="2026-03-31T16:10:00+02:00"),
        ],
    )
    batch = SpoolSource(path=str(spool)).read_window(H14, H15)
    assert sorted(batch.rows["request_id"]) == ["created", "first", "last", "started"]
    assert batch.rejects.height == 0


def test_gzip_and_plain_files_in_subfolders_are_read(spool: Path) -> None:
    write_spool(spool / "2026/03/31/a.ndjson.gz", [gateway_row("gz", "2026-03-31T14:01:00Z")], True)
    write_spool(spool / "b.jsonl", [gateway_row("plain", "2026-03-31T14:02:00Z")])
    write_spool(spool / "notes.txt", ["not a spool file"])
    batch = SpoolSource(path=str(spool)).read_window(H14, H15)
    assert sorted(batch.rows["request_id"]) == ["gz", "plain"]


def test_malformed_lines_are_counted_kept_and_good_rows_survive(spool: Path) -> None:
    bad_json = '{"request_id": "cut", "started_at": "2026-03-31T14:05:00Z", "lat'
    wrong_type = gateway_row("typed", "2026-03-31T14:06:00Z", latency_ms="slow", is_stream="yes")
    nested = gateway_row("nested", "2026-03-31T14:07:00Z", model={"name": "gpt"})
    no_time = gateway_row("no-time", None, created_at=None)
    bad_time = gateway_row("bad-time", "31/03/2026 14:08")
    write_spool(
        spool / "a.ndjson",
        [
            gateway_row("good1", "2026-03-31T14:00:00Z"),
            bad_json,
            wrong_type,
            "",
            "[1, 2]",
            nested,
            no_time,
            bad_time,
            gateway_row("good2", "2026-03-31T14:30:00Z", cost="0.125"),
        ],
    )
    batch = SpoolSource(path=str(spool)).read_window(H14, H15)
    assert sorted(batch.rows["request_id"]) == ["good1", "good2"]
    assert batch.rows.filter(batch.rows["request_id"] == "good2")["cost"].to_list() == [0.125]
    rejects = {r["line_number"]: r for r in batch.rejects.iter_rows(named=True)}
    assert sorted(rejects) == [2, 3, 5, 6, 7, 8]  # line 4 is blank, not a record
    assert rejects[2]["reason"].startswith("not valid JSON")
    assert rejects[2]["line"] == bad_json
    assert "latency_ms: expected an integer, got slow" in rejects[3]["reason"]
    assert "is_stream: expected true or false, got yes" in rejects[3]["reason"]
    assert rejects[5]["reason"].startswith("not a JSON object")
    assert rejects[6]["reason"] == "model: expected a single value, got dict"
    assert rejects[7]["reason"] == "no started_at or created_at"
    assert "started_at: expected an ISO 8601 timestamp" in rejects[8]["reason"]
    assert json.loads(rejects[3]["line"])["request_id"] == "typed"
    assert all(r["source_file"].endswith("a.ndjson") for r in rejects.values())


def test_each_rejected_line_belongs_to_exactly_one_hour(spool: Path) -> None:
    write_spool(
        spool / "a.ndjson",
        [
            gateway_row("a", "2026-03-31T14:10:00Z"),
            "garbage after a",
            gateway_row("b", "2026-03-31T15:10:00Z"),
            "garbage after b",
        ],
    )
    source = SpoolSource(path=str(spool))
    first = source.read_window(H14, H15).rejects
    second = source.read_window(H15, hour("2026-03-31T16")).rejects
    assert first["line"].to_list() == ["garbage after a"]
    assert second["line"].to_list() == ["garbage after b"]


def test_clean_file_takes_the_vectorised_path_with_all_fields(spool: Path) -> None:
    row = gateway_row("full", "2026-03-31T14:22:10.000Z", is_error=True, error_message="boom")
    write_spool(spool / "a.ndjson", [row])
    [got] = SpoolSource(path=str(spool)).read_window(H14, H15).rows.iter_rows(named=True)
    assert got["is_error"] is True and got["error_message"] == "boom"
    assert got["latency_ms"] == 842 and got["total_tokens"] == 1523 and got["cost"] == 0.02


def test_empty_spool_gives_empty_batch(spool: Path) -> None:
    batch = SpoolSource(path=str(spool)).read_window(H14, H15)
    assert batch.rows.height == 0 and batch.rejects.height == 0


def test_index_skips_files_outside_the_window_and_rereads_changed_ones(spool: Path) -> None:
    from prism_dagster.sources.spool_index import INDEX_NAME

    early = write_spool(spool / "early.ndjson", [gateway_row("e", "2026-03-31T10:00:00Z")])
    write_spool(spool / "late.ndjson", [gateway_row("l", "2026-03-31T14:10:00Z")])
    source = SpoolSource(path=str(spool))
    assert source.read_window(H14, H15).rows["request_id"].to_list() == ["l"]
    index = json.loads((spool / INDEX_NAME).read_text())
    assert len(index) == 2
    # Rewrite the early file so it now holds a 14:00 row: size and mtime change, it is read.
    write_spool(
        early, [gateway_row("e", "2026-03-31T10:00:00Z"), gateway_row("e2", "2026-03-31T14:20:00Z")]
    )
    assert sorted(source.read_window(H14, H15).rows["request_id"]) == ["e2", "l"]
    # A file the index says is outside the window is not opened at all.
    (spool / "late.ndjson").chmod(0o000)
    try:
        assert source.read_window(hour("2026-03-31T10"), hour("2026-03-31T11")).rows.height == 1
    finally:
        (spool / "late.ndjson").chmod(0o644)


def test_poison_lines_become_rejects_and_never_block_the_hour(spool: Path) -> None:
    write_spool(
        spool / "a.ndjson",
        [
            gateway_row("good", "2026-03-31T14:00:00Z", latency_ms=86_400_000),
            gateway_row("exact", "2026-03-31T14:00:30Z", latency_ms=9007199254740993),
            '{"request_id": "huge", "started_at": "2026-03-31T14:01:00Z", "latency_ms": 1e20}',
            '{"request_id": "inf", "started_at": "2026-03-31T14:02:00Z", "cost": 1e400}',
            gateway_row("nan", "2026-03-31T14:03:00Z", cost="NaN"),
            gateway_row("float", "2026-03-31T14:04:00Z", latency_ms=1.5e3),
        ],
    )
    broken = spool / "broken.ndjson.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    written = H14.timestamp() + 600  # last written at 14:10: its hour is 14
    os.utime(broken, (written, written))
    batch = SpoolSource(path=str(spool)).read_window(H14, H15)
    rows = {r["request_id"]: r for r in batch.rows.iter_rows(named=True)}
    assert sorted(rows) == ["float", "good"]
    assert rows["good"]["latency_ms"] == 86_400_000  # the documented maximum is kept
    assert rows["float"]["latency_ms"] == 1500
    reasons = dict(
        zip(batch.rejects["line"].to_list(), batch.rejects["reason"].to_list(), strict=True)
    )
    assert any("latency_ms: expected an integer" in r for r in reasons.values())
    # Out of range, so rejected, with its exact digits (not rounded through a float).
    [exact] = [r for line, r in reasons.items() if '"exact"' in line]
    assert exact == "latency_ms: expected 0 to 86400000, got 9007199254740993"
    assert any("cost: expected a finite number" in r for r in reasons.values())
    unreadable = batch.rejects.filter(batch.rejects["reason"].str.starts_with("unreadable file"))
    assert unreadable["source_file"].to_list() == [str(broken)]


def test_a_missing_spool_folder_fails_loudly(tmp_path: Path) -> None:
    from prism_dagster.errors import SourceError

    with pytest.raises(SourceError, match="does not exist"):
        SpoolSource(path=str(tmp_path / "typo")).read_window(H14, H15)


# --- what the run archiving an hour says: where the operator reads it ---------------------------


def _archive_hour_14(spool: Path, archive: Path, **source: Any) -> dict[str, Any]:
    """Archive hour 14 from ``spool`` into ``archive``; the run's metadata of the hour."""
    config = {
        "source": {"kind": "spool", "path": str(spool), **source},
        "integrations": [
            {"name": "prod", "provider": "local", "path": str(archive), "start": "2026-03-31T00"}
        ],
    }
    result = materialise(config, H14)
    [event] = result.asset_materializations_for_node("prism__archive__prod")
    return {key: value.value for key, value in event.metadata.items()}


def test_a_hidden_log_file_is_named_in_the_runs_ignored_files(
    spool: Path, archive_root: Path
) -> None:
    write_spool(spool / "a.ndjson", [gateway_row("a", "2026-03-31T14:10:00Z")])
    write_spool(spool / "day" / ".b.ndjson.gz", [gateway_row("b", "2026-03-31T14:20:00Z")], True)
    meta = _archive_hour_14(spool, archive_root)
    assert meta["ignored_files"] == ["day/.b.ndjson.gz"]
    assert meta["dagster/row_count"] == 1  # not read: hidden files are skipped, now said so


def test_bad_lines_at_the_top_of_a_large_file_are_reported_with_their_hour(
    spool: Path, archive_root: Path
) -> None:
    # More than the hour's 1 MiB budget, so read in blocks; its first blocks hold no time.
    garbage = [f"no time here {i}" for i in range(40_000)]
    rows = [gateway_row(f"r{i}", f"2026-03-31T14:{i % 60:02d}:00Z") for i in range(2000)]
    file = write_spool(spool / "a.ndjson", [*garbage, *rows])
    late = H15.timestamp() + 3600  # last written at 16:00, an hour that holds none of it
    os.utime(file, (late, late))
    meta = _archive_hour_14(spool, archive_root, hour_memory_mb=1)
    assert (meta["dagster/row_count"], meta["rejected_rows"]) == (2000, 40_000)
    [stored] = archive_root.rglob("hour=14/_rejects_*.jsonl.gz")
    lines = [json.loads(x)["line"] for x in gzip.decompress(stored.read_bytes()).splitlines()]
    assert lines == garbage
