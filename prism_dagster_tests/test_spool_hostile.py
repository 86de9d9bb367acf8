"""The spool against hostile input: every source line is a row or a reject, and no run fails."""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import prism_dagster
from prism_dagster.sources import SpoolSource
from prism_dagster.sources.base import REJECT_TIME
from prism_dagster_tests.support.rows import gateway_row, hour, write_spool

H14, H15, H16 = hour("2026-03-31T14"), hour("2026-03-31T15"), hour("2026-03-31T16")
MINUTE = timedelta(minutes=1)


def line(request_id: str, started_at: str, **fields: object) -> str:
    return json.dumps(gateway_row(request_id, started_at, **fields))


def set_mtime(path: Path, moment: datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()), follow_symlinks=False)


def test_one_bad_utf8_byte_rejects_only_its_line(spool: Path) -> None:
    good = line("a", "2026-03-31T14:00:00Z"), line("c", "2026-03-31T14:20:00Z")
    data = f"{good[0]}\n".encode() + b'{"request_id": "bad\xff"}\n' + good[1].encode()
    (spool / "a.ndjson").write_bytes(data)
    batch = SpoolSource(path=str(spool)).read_window(H14, H15)
    assert sorted(batch.rows["request_id"]) == ["a", "c"]
    [reject] = batch.rejects.iter_rows(named=True)
    assert reject["line_number"] == 2
    assert reject["reason"] == "not valid UTF-8 (invalid start byte at byte 20 of the line)"
    assert reject["line"] == '{"request_id": "bad\\xff"}'
    assert reject[REJECT_TIME] == H14  # its neighbours' hour


def test_truncated_multi_member_gzip_keeps_what_is_recovered(spool: Path) -> None:
    first = gzip.compress((line("a", "2026-03-31T13:50:00Z") + "\n").encode())
    cut = (line("b", "2026-03-31T14:10:00Z") + "\n" + '{"request_id": "half').encode()
    second = gzip.compress(cut)[:-8]  # the writer died before the gzip trailer
    file = spool / "a.ndjson.gz"
    file.write_bytes(first + second)
    set_mtime(file, H16)  # not the hour the damage is filed under
    source = SpoolSource(path=str(spool))
    assert source.read_window(H14 - timedelta(hours=1), H14).rows["request_id"].to_list() == ["a"]
    batch = source.read_window(H14, H15)
    assert batch.rows["request_id"].to_list() == ["b"]
    size = len(first + second)
    assert batch.rejects.select("line_number", "reason", "line", REJECT_TIME).rows() == [
        (3, "line cut off where the gzip data ends", '{"request_id": "half', H14 + 10 * MINUTE),
        (
            4,
            f"unreadable file: gzip data truncated after byte {size} of {size}; "
            "anything after it is lost",
            "",
            H14 + 10 * MINUTE,
        ),
    ]


def test_folder_named_like_a_log_file_is_not_read_as_one(spool: Path) -> None:
    write_spool(spool / "x.ndjson" / "y.ndjson", [gateway_row("y", "2026-03-31T14:10:00Z")])
    assert SpoolSource(path=str(spool)).read_window(H14, H15).rows["request_id"].to_list() == ["y"]


def test_symlinks_leading_nowhere_are_rejects_not_failures(spool: Path) -> None:
    write_spool(spool / "a.ndjson", [gateway_row("a", "2026-03-31T14:00:00Z")])
    (spool / "gone.ndjson").symlink_to(spool / "missing.ndjson")
    (spool / "loop.jsonl").symlink_to(spool / "loop.jsonl")
    for name in ("gone.ndjson", "loop.jsonl"):
        set_mtime(spool / name, H14 + 30 * MINUTE)  # the link's own time files it
    batch = SpoolSource(path=str(spool)).read_window(H14, H15)
    assert batch.rows["request_id"].to_list() == ["a"]
    assert batch.rejects.select("source_file", "reason", "line", REJECT_TIME).rows() == [
        (str(spool / "gone.ndjson"), "unreadable file: broken symlink", "", H14 + 30 * MINUTE),
        (str(spool / "loop.jsonl"), "unreadable file: symlink loop", "", H14 + 30 * MINUTE),
    ]


def test_a_five_digit_year_is_a_reject_filed_with_its_neighbours(spool: Path) -> None:
    write_spool(
        spool / "a.ndjson",
        [
            gateway_row("a", "2026-03-31T14:10:00Z"),
            gateway_row("far", "+10000-01-01T00:00:00Z"),
            gateway_row("c", "2026-03-31T14:20:00Z"),
        ],
    )
    batch = SpoolSource(path=str(spool)).read_window(H14, H15)
    assert sorted(batch.rows["request_id"]) == ["a", "c"]
    assert batch.rejects.select("line_number", "reason", REJECT_TIME).rows() == [
        (
            2,
            "event time outside 2000-01-01T00:00:00Z .. 2100-01-01T00:00:00Z, "
            "got +10000-01-01T00:00:00Z",
            H14 + 10 * MINUTE,
        )
    ]


def test_deeply_nested_json_is_a_reject_of_its_line(spool: Path) -> None:
    deep = '{"request_id": "deep", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"
    write_spool(
        spool / "a.ndjson",
        [gateway_row("a", "2026-03-31T14:10:00Z"), deep, gateway_row("c", "2026-03-31T14:20:00Z")],
    )
    batch = SpoolSource(path=str(spool)).read_window(H14, H15)
    assert sorted(batch.rows["request_id"]) == ["a", "c"]
    assert batch.rejects.select("line_number", "reason").rows() == [
        (2, "not valid JSON (nested too deeply)")
    ]


def test_out_of_range_values_are_rejected_under_their_neighbours_hour(spool: Path) -> None:
    write_spool(
        spool / "a.ndjson",
        [
            gateway_row("a", "2026-03-31T14:10:00Z"),
            gateway_row("latency", "2026-03-31T14:11:00Z", latency_ms=-1),
            gateway_row("cost", "2026-03-31T14:12:00Z", cost=-5),
            gateway_row("tokens", "2026-03-31T14:13:00Z", input_tokens=-(2**63)),
            gateway_row("1970", "1970-01-01T00:00:00Z"),
            gateway_row("9999", "9999-12-31T23:00:00Z"),
            gateway_row("b", "2026-03-31T14:50:00Z"),
        ],
    )
    batch = SpoolSource(path=str(spool)).read_window(H14, H15)
    assert sorted(batch.rows["request_id"]) == ["a", "b"]
    outside = "event time outside 2000-01-01T00:00:00Z .. 2100-01-01T00:00:00Z, got "
    assert batch.rejects.select("line_number", "reason", REJECT_TIME).rows() == [
        (2, "latency_ms: expected 0 to 86400000, got -1", H14 + 11 * MINUTE),
        (3, "cost: expected 0.0 to 1000000.0, got -5.0", H14 + 12 * MINUTE),
        (4, f"input_tokens: expected 0 to 1000000000, got {-(2**63)}", H14 + 13 * MINUTE),
        (5, outside + "1970-01-01T00:00:00Z", H14 + 13 * MINUTE),
        (6, outside + "9999-12-31T23:00:00Z", H14 + 13 * MINUTE),
    ]


def test_a_utf8_bom_does_not_reject_the_first_line(spool: Path) -> None:
    (spool / "a.ndjson").write_bytes(b"\xef\xbb\xbf" + line("a", "2026-03-31T14:10:00Z").encode())
    batch = SpoolSource(path=str(spool)).read_window(H14, H15)
    assert batch.rows["request_id"].to_list() == ["a"]
    assert batch.rejects.height == 0


def test_suffixes_match_in_any_case_and_json_files_are_read(spool: Path) -> None:
    write_spool(spool / "A.NDJSON", [gateway_row("upper", "2026-03-31T14:10:00Z")])
    write_spool(spool / "b.JSONL.GZ", [gateway_row("gz", "2026-03-31T14:11:00Z")], True)
    write_spool(spool / "c.json", [gateway_row("json", "2026-03-31T14:12:00Z")])
    rows = SpoolSource(path=str(spool)).read_window(H14, H15).rows
    assert sorted(rows["request_id"]) == ["gz", "json", "upper"]


def test_files_that_are_not_read_are_named_in_a_warning(
    spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_spool(spool / "a.ndjson", [gateway_row("a", "2026-03-31T14:10:00Z")])
    write_spool(spool / "notes.txt", ["not a spool file"])
    write_spool(spool / "old" / "a.csv", ["x,y"])
    write_spool(spool / ".hidden.ndjson", [gateway_row("h", "2026-03-31T14:20:00Z")])
    write_spool(spool / ".DS_Store", ["hidden and no log file: not worth a word"])
    source = SpoolSource(path=str(spool))
    with caplog.at_level(logging.WARNING, logger="prism_dagster"):
        batch = source.read_window(H14, H15)
        again = source.read_window(H14, H15)  # the spool's own index is there now: not named
    named = ".hidden.ndjson, notes.txt, old/a.csv"
    assert caplog.messages == 2 * [
        f"spool {spool}: 3 entries not read (hidden, or not regular "
        f"*.ndjson/*.jsonl/*.json[.gz] files): {named}"
    ]
    assert batch.ignored == again.ignored == (".hidden.ndjson", "notes.txt", "old/a.csv")
    assert batch.rows["request_id"].to_list() == ["a"]  # a hidden file is not read


# --- permissions: the reader runs as an unprivileged user ---------------------------------

_READER = """
import json, sys
from datetime import datetime
from prism_dagster.errors import SourceError
from prism_dagster.sources import SpoolSource
try:
    batch = SpoolSource(path=sys.argv[1]).read_window(*map(datetime.fromisoformat, sys.argv[2:4]))
except SourceError as exc:
    sys.exit(print(json.dumps({"error": str(exc), "cause": exc.cause.value})))
rejects = sorted([r["source_file"], r["reason"]] for r in batch.rejects.iter_rows(named=True))
print(json.dumps({"rows": sorted(batch.rows["request_id"]), "rejects": rejects}))
"""


def _can_deny() -> bool:
    """As non-root, whether chmod 000 really denies reading (it does not on some filesystems)."""
    with tempfile.NamedTemporaryFile() as probe:
        os.chmod(probe.name, 0)
        try:
            open(probe.name).close()
        except PermissionError:
            return True
        return False


@pytest.fixture
def shared_spool() -> Iterator[Path]:
    """A spool folder the unprivileged user can traverse and write (for the index)."""
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: cannot read as an unprivileged user")
    if os.geteuid() != 0 and not _can_deny():
        pytest.skip("chmod 000 does not deny reading here")
    top = Path(tempfile.mkdtemp(prefix="prism-spool-"))
    top.chmod(0o755)
    (top / "spool").mkdir(mode=0o777)
    (top / "spool").chmod(0o777)  # mkdir's mode is cut by the umask
    try:
        yield top / "spool"
    finally:
        for folder, dirs, _ in os.walk(top):
            for name in dirs:
                os.chmod(os.path.join(folder, name), 0o755)
        shutil.rmtree(top)


def read_unprivileged(spool: Path, start: datetime, end: datetime) -> dict[str, list]:
    """What a non-root reader gets: as ``nobody`` when the tests run as root."""
    code = [sys.executable, "-c", _READER, str(spool), start.isoformat(), end.isoformat()]
    if os.geteuid() == 0:
        code = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *code]
    package_parent = str(Path(prism_dagster.__file__).parent.parent)
    env = {"PATH": os.environ["PATH"], "HOME": str(spool.parent), "PYTHONPATH": package_parent}
    done = subprocess.run(code, env=env, cwd=spool.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_unreadable_file_is_a_reject_filed_at_its_mtime(shared_spool: Path) -> None:
    write_spool(shared_spool / "a.ndjson", [gateway_row("a", "2026-03-31T14:05:00Z")])
    locked = write_spool(shared_spool / "locked.ndjson", [gateway_row("l", "2026-03-31T14:10:00Z")])
    locked.chmod(0)
    set_mtime(locked, H14 + 30 * MINUTE)
    assert read_unprivileged(shared_spool, H14, H15) == {
        "rows": ["a"],
        "rejects": [[str(locked), "unreadable file: permission denied"]],
    }


def test_unreadable_file_is_read_again_once_readable(shared_spool: Path) -> None:
    write_spool(shared_spool / "a.ndjson", [gateway_row("a", "2026-03-31T14:05:00Z")])
    locked = write_spool(shared_spool / "locked.ndjson", [gateway_row("l", "2026-03-31T14:10:00Z")])
    locked.chmod(0)
    set_mtime(locked, H16)  # its reject belongs to 16:00, outside this window
    assert read_unprivileged(shared_spool, H14, H15) == {"rows": ["a"], "rejects": []}
    locked.chmod(
        0o644
    )  # mtime and size unchanged: only an index that never cached it reads it again
    assert read_unprivileged(shared_spool, H14, H15) == {"rows": ["a", "l"], "rejects": []}


def test_unreadable_subfolder_is_a_reject_naming_it(shared_spool: Path) -> None:
    write_spool(shared_spool / "a.ndjson", [gateway_row("a", "2026-03-31T14:05:00Z")])
    folder = shared_spool / "2026"
    write_spool(folder / "b.ndjson", [gateway_row("b", "2026-03-31T14:10:00Z")])
    folder.chmod(0)
    set_mtime(folder, H14 + 40 * MINUTE)
    assert read_unprivileged(shared_spool, H14, H15) == {
        "rows": ["a"],
        "rejects": [[str(folder), "unreadable folder: permission denied"]],
    }


def test_folder_listable_but_not_searchable_rejects_each_log_file(shared_spool: Path) -> None:
    folder = shared_spool / "2026"
    write_spool(folder / "b.ndjson", [gateway_row("b", "2026-03-31T14:10:00Z")])
    folder.chmod(0o444)  # its names can be listed, its files not even stat'ed
    assert read_unprivileged(shared_spool, H14, H15) == {
        "rows": [],
        # Filed under the window's first hour (nothing else dates it), so this run reports it.
        "rejects": [[str(folder / "b.ndjson"), "unreadable file: permission denied"]],
    }


def test_an_unreadable_spool_folder_fails_loudly(shared_spool: Path) -> None:
    shared_spool.chmod(0)
    assert read_unprivileged(shared_spool, H14, H15) == {
        "error": f"spool folder {shared_spool} cannot be read (permission denied): "
        "grant the Dagster user read access",
        "cause": "source access denied",
    }


# --- everything at once ----------------------------------------------------------------------


def test_every_non_blank_line_is_one_row_or_one_reject(spool: Path) -> None:
    plain = [
        line("h14a", "2026-03-31T14:00:00Z"),
        line("h14b", "2026-03-31T14:05:00Z") + "\r",  # CRLF
        "",
        "   ",
        '{"request_id": "bad\xff"}',  # the \xff becomes an invalid byte below
        line("neg", "2026-03-31T14:06:00Z", latency_ms=-1),
        line("old", "1970-01-01T00:00:00Z"),
        line("far", "+10000-01-01T00:00:00Z"),
        '{"metadata": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"request_id": "digits", "latency_ms": ' + "1" * 5000 + "}",
        "[1, 2]",
        line("h15a", "2026-03-31T15:10:00Z"),
    ]
    data = "\n".join(plain).encode("utf-8").replace(b"\xc3\xbf", b"\xff")
    (spool / "a.ndjson").write_bytes(b"\xef\xbb\xbf" + data)
    member = gzip.compress((line("h14c", "2026-03-31T14:30:00Z") + "\n").encode())
    cut = gzip.compress((line("h14d", "2026-03-31T14:40:00Z") + "\n" + '{"cut').encode())[:-8]
    (spool / "b.JSONL.GZ").write_bytes(member + cut)
    pretty = json.dumps(gateway_row("pretty", "2026-03-31T14:50:00Z"), indent=2).splitlines()
    write_spool(spool / "c.json", pretty)
    write_spool(spool / "x.ndjson" / "y.ndjson", [line("h15b", "2026-03-31T15:20:00Z")])
    (spool / "gone.ndjson").symlink_to(spool / "missing")
    (spool / "loop.jsonl").symlink_to(spool / "loop.jsonl")
    os.mkfifo(spool / "pipe.ndjson")  # never opened: reading it would block the run
    write_spool(spool / "notes.txt", ["ignored, named in a warning"])
    source_lines = (len(plain) - 2) + 3 + len(pretty) + 1  # a (2 blank), b (3 lines), c, y

    source = SpoolSource(path=str(spool))
    everything = (datetime.fromisoformat(m) for m in ("2000-01-01T00:00Z", "2100-01-01T00:00Z"))
    batch = source.read_window(*everything)
    structural = batch.rejects.filter(batch.rejects["line"] == "")
    assert sorted(structural["source_file"]) == [
        str(spool / "b.JSONL.GZ"),
        str(spool / "gone.ndjson"),
        str(spool / "loop.jsonl"),
    ]
    assert batch.rows.height == 6
    assert not batch.rejects.select("source_file", "line_number").is_duplicated().any()
    assert batch.rows.height + batch.rejects.height == source_lines + structural.height
    assert sorted(source.read_window(H14, H15).rows["request_id"]) == [
        "h14a",
        "h14b",
        "h14c",
        "h14d",
    ]
    assert sorted(source.read_window(H15, H16).rows["request_id"]) == ["h15a", "h15b"]


# --- bad lines no line of their own dates: the hour of their neighbours, as a whole file ------


def _large_file(path: Path, top: int, middle: int) -> Path:
    """A file larger than 1 MiB: ``top`` lines with no time, rows of 14:xx, ``middle`` more
    lines with no time, rows of 14:5x. Block by block (256 KiB) whole blocks hold no time."""
    rows = [f"no time here {i}" for i in range(top)]
    rows += [line(f"a{i}", f"2026-03-31T14:{i % 40:02d}:00Z") for i in range(1000)]
    rows += [f"no time either {i}" for i in range(middle)]
    rows += [line(f"b{i}", f"2026-03-31T14:{50 + i % 10:02d}:00Z") for i in range(1000)]
    file = write_spool(path, rows)
    set_mtime(file, H16)  # not the hour of any of its lines
    return file


def test_a_large_files_bad_lines_are_dated_as_in_the_file_read_whole(spool: Path) -> None:
    from prism_dagster.sources.spool_file import read_carefully
    from prism_dagster.sources.spool_large import is_large

    file = _large_file(spool / "a.ndjson", top=40_000, middle=40_000)
    assert is_large(file, 1 << 20)
    batch = SpoolSource(path=str(spool), hour_memory_mb=1).read_window(H14, H15)
    assert batch.rows.height == 2000
    assert batch.rejects.height == 80_000  # every one in hour 14, none filed under 16:00
    _, whole = read_carefully(file, H14)
    columns = ["line_number", "reason", "line", REJECT_TIME]
    assert batch.rejects.sort("line_number").select(columns).equals(whole.select(columns))
    times = dict(batch.rejects.group_by(REJECT_TIME).len().iter_rows())
    # The top: the first dated line's time; the middle: the last dated line before it.
    assert times == {H14: 40_000, H14 + 39 * MINUTE: 40_000}


def test_a_file_no_line_of_which_has_a_time_says_where_its_lines_went(
    spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = write_spool(spool / "a.ndjson", ["not json", '{"request_id": "no time"}'])
    set_mtime(file, H16 + 25 * MINUTE)
    with caplog.at_level(logging.WARNING, logger="prism_dagster"):
        batch = SpoolSource(path=str(spool)).read_window(H14, H15)
    assert batch.rejects.height == 0  # filed under 16:00, where the file was last written
    assert caplog.messages == [
        f"spool file {file}: 2 bad line(s) and no line with a readable time; filed as "
        "rejects under hour 2026-03-31T16:00Z (when the file was last written)"
    ]
    assert SpoolSource(path=str(spool)).read_window(H16, H16 + 60 * MINUTE).rejects.height == 2
