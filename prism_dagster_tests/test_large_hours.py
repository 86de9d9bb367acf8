"""An hour larger than its memory budget is read in pieces and sorted on disk: same bytes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from prism_dagster.archive.normalize import normalize, shape
from prism_dagster.archive.records import RecordSpill, Spilled
from prism_dagster.archive.settings import WriteSettings
from prism_dagster.archive.window import read_hour
from prism_dagster.archive.writer import content_tag, write_hour
from prism_dagster.config import parse_config
from prism_dagster.definitions import build_definitions
from prism_dagster.destinations.local import LocalDestination
from prism_dagster.names import PARTITION_KEY_FORMAT as HOUR_KEY
from prism_dagster.names import archive_job_name
from prism_dagster.sources import SpoolSource, pg_stream
from prism_dagster.sources import postgres as postgres_module
from prism_dagster.sources.postgres import PostgresSource
from prism_dagster.sources.simulate import simulate
from prism_dagster.sources.spool_file import read_carefully
from prism_dagster.sources.spool_large import is_large, read_in_blocks
from prism_dagster_tests.support import gateway_db
from prism_dagster_tests.support.archive_reader import tree_bytes
from prism_dagster_tests.support.rows import gateway_row, hour, write_spool

H14, H16 = hour("2026-03-31T14"), hour("2026-03-31T16")
SETTINGS = WriteSettings(max_rows_per_file=700, slice_rows=90)  # slices across minutes


def _gateway_rows(spool: Path) -> pl.DataFrame:
    simulate(spool, H14, H16, rate=1500, seed=5)
    source = SpoolSource(path=str(spool))
    return source.read_window(H14, hour("2026-03-31T15")).rows


def test_spilled_records_are_the_in_memory_records_in_the_same_order(spool: Path) -> None:
    rows = _gateway_rows(spool).sample(fraction=1.0, shuffle=True, seed=3)  # any read order
    spill = RecordSpill(budget_bytes=1)
    for offset in range(0, rows.height, 400):
        spill.add(shape(rows.slice(offset, 400)))
    spilled = spill.finish()
    assert isinstance(spilled, Spilled) and len(spilled.files) > 30  # a file per minute
    expected = normalize(rows)
    assert pl.concat(spilled.parts()).equals(expected)
    assert content_tag(spilled, SETTINGS) == content_tag(expected, SETTINGS)
    assert spilled.totals() == pytest.approx((expected["cost"].sum(), expected["is_error"].sum()))
    spilled.close()
    assert not any(f.exists() for f in spilled.files)


def test_a_spilled_hour_writes_the_same_bytes_as_one_sorted_in_memory(
    spool: Path, tmp_path: Path
) -> None:
    rows = _gateway_rows(spool)
    spill = RecordSpill(budget_bytes=1)
    spill.add(shape(rows))
    trees = []
    for name, records in (("memory", normalize(rows)), ("disk", spill.finish())):
        dest = LocalDestination(integration="prod", path=str(tmp_path / name))
        result = write_hour(
            dest,
            integration="prod",
            prefix="p",
            hour=H14,
            records=records,
            rejects=pl.DataFrame(),
            settings=SETTINGS,
        )
        assert len(result.manifest.files) > 1
        trees.append(tree_bytes(tmp_path / name))
    assert trees[0] == trees[1]


def _archive(config: dict[str, Any], first: str, last: str) -> None:
    job = build_definitions(parse_config(config)).resolve_job_def(archive_job_name("prod"))
    tags = {
        "dagster/asset_partition_range_start": hour(first).strftime(HOUR_KEY),
        "dagster/asset_partition_range_end": hour(last).strftime(HOUR_KEY),
    }
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(tags=tags, instance=instance).success


def _integration(archive: Path) -> dict[str, Any]:
    return {"name": "prod", "provider": "local", "path": str(archive), "start": "2026-03-31T00"}


def test_a_spool_hour_past_its_budget_archives_the_same_bytes(spool: Path, tmp_path: Path) -> None:
    simulate(spool, H14, H16, rate=6000, seed=5, bad_lines=1)
    for name, budget in (("memory", 256), ("disk", 1)):
        source = {"kind": "spool", "path": str(spool), "hour_memory_mb": budget}
        _archive(
            {"source": source, "integrations": [_integration(tmp_path / name)]},
            "2026-03-31T14",
            "2026-03-31T15",
        )
    assert tree_bytes(tmp_path / "memory") == tree_bytes(tmp_path / "disk")
    assert len([k for k in tree_bytes(tmp_path / "disk") if k.endswith("_manifest.json")]) == 2


def test_a_large_clean_spool_file_is_read_in_parts(spool: Path) -> None:
    simulate(spool, H14, H16, rate=12000, seed=5)
    file = next(spool.rglob("14.ndjson.gz"))
    lines = len(gzip.decompress(file.read_bytes()).splitlines())
    source = SpoolSource(path=str(spool), hour_memory_mb=1)
    pieces = [p for p in source.read_pieces(H14, hour("2026-03-31T15")) if p.rows.height]
    whole = SpoolSource(path=str(spool)).read_window(H14, hour("2026-03-31T15")).rows
    assert len(pieces) > 3  # blocks of a quarter of the budget
    assert sum(p.rows.height for p in pieces) == whole.height > lines // 2
    assert pl.concat([p.rows for p in pieces]).equals(whole)
    batch = read_hour(source, H14)
    assert isinstance(batch.records, Spilled) and batch.records.height == whole.height
    batch.records.close()


@pytest.fixture(scope="module")
def gateway(postgres) -> dict[str, Any]:
    db = gateway_db.new_database(postgres.dsn())
    gateway_db.load(postgres.dsn(db=db), gateway_db.traffic(H14, H16, rate=3000, seed=5))
    return {"dsn": postgres.dsn(db=db)}


def test_a_postgres_hour_in_pieces_past_its_budget_archives_the_same_bytes(
    gateway: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LARGE_HOUR_DSN", gateway["dsn"])
    source = PostgresSource(dsn=gateway["dsn"], organization_id=gateway_db.ORG, hour_memory_mb=1)
    # Small Arrow batches and pieces, so that an hour of a test's size comes in several.
    monkeypatch.setattr(
        pg_stream, "BATCH_OPTIONS", {"adbc.postgresql.batch_size_hint_bytes": "16384"}
    )
    monkeypatch.setattr(postgres_module, "PIECE_BYTES", 64 << 10)
    assert len(list(source.read_pieces(H14, hour("2026-03-31T15")))) > 3
    for name, budget in (("disk", 1), ("memory", 256)):
        raw = {
            "source": {
                "kind": "postgres",
                "dsn": {"env": "LARGE_HOUR_DSN"},
                "organization_id": gateway_db.ORG,
                "hour_memory_mb": budget,
            },
            "integrations": [_integration(tmp_path / name)],
            "status_store": {"url": f"sqlite:///{tmp_path / name}.db"},
        }
        _archive(raw, "2026-03-31T14", "2026-03-31T15")
    assert tree_bytes(tmp_path / "memory") == tree_bytes(tmp_path / "disk")


def _file_with_bad_lines(path: Path, compress: bool) -> Path:
    rows: list[Any] = []
    for i in range(3000):
        t = f"2026-03-31T14:{i // 60 % 60:02d}:{i % 60:02d}Z"
        rows.append(gateway_row(f"r{i:05d}", t, error_message="x" * (i % 97)))
    rows[0] = "\ufeff" + json.dumps(rows[0])  # a byte order mark, first line only
    rows[700] = '{"request_id": "cut", "lat'
    rows[1500] = gateway_row("typed", "2026-03-31T14:30:00Z", latency_ms="slow")
    rows[2999] = gateway_row("nested", "2026-03-31T14:59:00Z", model={"a": 1})
    rows.insert(2100, "")
    return write_spool(path, rows, compress)


@pytest.mark.parametrize("compress", [False, True], ids=["ndjson", "gzip"])
def test_a_large_file_with_bad_lines_reads_block_by_block_as_the_careful_reader(
    spool: Path, compress: bool
) -> None:
    file = _file_with_bad_lines(spool / "big.ndjson", compress)
    assert is_large(file, 64 << 10)
    blocks = list(read_in_blocks(file, H14, 64 << 10))  # blocks of 64 KiB of lines
    assert len(blocks) > 5
    good, bad = (pl.concat(parts) for parts in zip(*blocks, strict=True))
    careful_good, careful_bad = read_carefully(file, H14)
    assert good.equals(careful_good) and good.height == 2997
    same = ["line_number", "reason", "line"]  # a reject's hour may come from another neighbour
    assert bad.select(same).equals(careful_bad.select(same))
    assert bad["line_number"].to_list() == [701, 1501, 3001]


def test_a_large_gzip_file_cut_short_keeps_its_lines_and_says_so(spool: Path) -> None:
    file = _file_with_bad_lines(spool / "big.ndjson", compress=True)
    file.write_bytes(file.read_bytes()[: file.stat().st_size * 2 // 3])
    good, bad = (pl.concat(p) for p in zip(*read_in_blocks(file, H14, 64 << 10), strict=True))
    careful_good, careful_bad = read_carefully(file, H14)
    assert 1000 < good.height <= careful_good.height  # at most one 1 MiB read is lost
    assert bad["reason"][-1].startswith("unreadable file: gzip data damaged or cut")
    assert bad["reason"][-2] == "line cut off where the gzip data ends"
    assert careful_bad["reason"][-1].startswith("unreadable file:")
