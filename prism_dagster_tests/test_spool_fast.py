"""The spool's fast path (Polars' NDJSON reader) gives exactly what the careful reader gives."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest

from prism_dagster.sources import SpoolSource
from prism_dagster.sources import spool as spool_module
from prism_dagster.sources.spool_file import read_carefully, read_clean, read_file
from prism_dagster_tests.support.rows import gateway_row, hour, write_spool

H14, H15, H16 = hour("2026-03-31T14"), hour("2026-03-31T15"), hour("2026-03-31T16")
T = "2026-03-31T14:05:00Z"

# Lines the careful reader accepts whole, spelled every way the gateway (or a person) might.
CLEAN = {
    "plain": [gateway_row("a", T), gateway_row("b", "2026-03-31T14:06:00.123456Z")],
    "numbers spelled": [gateway_row("n", T, latency_ms=1e3, input_tokens=12.0, cost=0)],
    "numbers as text": [gateway_row("s", T, latency_ms="842", cost="0.125", is_error="true")],
    "offsets and naive": [
        gateway_row("o", "2026-03-31T16:05:00+02:00"),
        gateway_row("z", "2026-03-31 14:07:00"),
    ],
    "escapes": ['{"request_id": "\\u00e9\\n\\"q\\"", "started_at": "' + T + '"}'],
    "blank lines and CRLF": ["", json.dumps(gateway_row("c", T)) + "\r", "   "],
    "extra and missing keys": ['{"request_id": "m", "started_at": "' + T + '", "x": [1]}'],
    "large integer": [gateway_row("h", T, input_tokens=999_999_999, cost=999_999.999999)],
}
# Lines only the careful reader can account for: the fast path must step aside.
CAREFUL = {
    "object in a text field": [gateway_row("o", T, model={"name": "gpt"})],
    "text that looks like JSON": [gateway_row("j", T, error_message='{"error": "quota"}')],
    "wrong type": [gateway_row("t", T, latency_ms="slow")],
    "out of range": [gateway_row("r", T, latency_ms=-5)],
    "huge integer": [gateway_row("h", T, input_tokens=9007199254740993)],
    "not an object": [gateway_row("g", T), "[1, 2]"],
    "not JSON": [gateway_row("g", T), '{"request_id": "cut", "lat'],
    "NaN": ['{"request_id": "nan", "started_at": "' + T + '", "cost": NaN}'],
    "no time": [gateway_row("g", T), gateway_row("none", None, created_at=None)],
}


@pytest.mark.parametrize("gz", [False, True], ids=["ndjson", "gzip"])
@pytest.mark.parametrize("name", CLEAN)
def test_clean_files_take_the_fast_path_with_the_careful_readers_rows(
    spool: Path, name: str, gz: bool
) -> None:
    file = write_spool(spool / f"a.ndjson{'.gz' if gz else ''}", CLEAN[name], gz)
    assert read_clean(file) is not None
    good, bad = read_file(file, H14)
    careful_good, careful_bad = read_carefully(file, H14)
    assert good.equals(careful_good)
    assert good.height == sum(1 for r in CLEAN[name] if not isinstance(r, str) or r.strip())
    assert bad.height == careful_bad.height == 0


@pytest.mark.parametrize("name", CAREFUL)
def test_files_with_any_bad_line_go_to_the_careful_reader(spool: Path, name: str) -> None:
    file = write_spool(spool / "a.ndjson", CAREFUL[name])
    assert read_clean(file) is None
    good, bad = read_file(file, H14)
    careful_good, careful_bad = read_carefully(file, H14)
    assert good.equals(careful_good) and bad.equals(careful_bad)


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + json.dumps(gateway_row("bom", T)).encode() + b"\n",
        json.dumps(gateway_row("utf8", T, model="caf\udce9")).encode("utf-8", "surrogateescape"),
        gzip.compress(json.dumps(gateway_row("cut", T)).encode() * 50)[:-20],
    ],
    ids=["byte order mark", "invalid UTF-8", "truncated gzip"],
)
def test_damaged_bytes_go_to_the_careful_reader(spool: Path, data: bytes) -> None:
    file = spool / "a.ndjson"
    file.write_bytes(data)
    assert read_clean(file) is None
    good, bad = read_file(file, H14)
    assert good.height + bad.height >= 1  # what can be recovered is, and the rest is a reject


def _spilling_spool(spool: Path) -> None:
    # Hourly files whose last requests are logged a little into the next hour.
    for h in (H14, H15):
        rows = [
            gateway_row(f"{h:%H}-{m}", f"{h + timedelta(minutes=m):%Y-%m-%dT%H:%M}:00Z")
            for m in range(0, 61, 10)
        ]  # minute 60: the next hour
        write_spool(spool / f"{h:%H}.ndjson.gz", rows, compress=True)


def test_a_run_parses_each_file_once_and_reads_what_fresh_reads_give(
    spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _spilling_spool(spool)
    fresh = [
        SpoolSource(path=str(spool)).read_window(h, h + timedelta(hours=1)) for h in (H14, H15)
    ]
    parsed: list[str] = []

    def counting(file: Path, start: object) -> object:
        parsed.append(file.name)
        return read_file(file, start)  # type: ignore[arg-type]

    monkeypatch.setattr(spool_module, "read_file", counting)
    source = SpoolSource(path=str(spool))
    in_one_run = [source.read_window(h, h + timedelta(hours=1)) for h in (H14, H15, H16)]
    assert sorted(parsed) == ["14.ndjson.gz", "15.ndjson.gz"]
    for got, want in zip(in_one_run, fresh, strict=False):
        assert sorted(got.rows["request_id"]) == sorted(want.rows["request_id"])
    assert sorted(in_one_run[1].rows["request_id"]) == [
        "14-60",
        *(f"15-{m}" for m in range(0, 60, 10)),
    ]
    assert in_one_run[2].rows["request_id"].to_list() == ["15-60"]


def test_a_file_that_changes_between_hours_is_read_again(spool: Path) -> None:
    _spilling_spool(spool)
    source = SpoolSource(path=str(spool))
    source.read_window(H14, H15)
    late = gateway_row("late", "2026-03-31T15:30:00Z")
    rows = [
        json.loads(line)
        for line in gzip.decompress((spool / "14.ndjson.gz").read_bytes()).splitlines()
    ]
    write_spool(spool / "14.ndjson.gz", [*rows, late], compress=True)
    assert "late" in source.read_window(H15, H16).rows["request_id"].to_list()
