"""Writing an hour: multi-file batches, reruns, stale cleanup, empty hours, crashes."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest

from prism_dagster.archive import layout
from prism_dagster.archive.manifest import Manifest
from prism_dagster.archive.settings import WriteSettings
from prism_dagster.archive.writer import content_tag
from prism_dagster.destinations import LocalDestination, ObjectKind, ObjectSink
from prism_dagster_tests.support.archive_reader import read_archive_lines, read_hour, tree_bytes
from prism_dagster_tests.support.rows import records
from prism_dagster_tests.support.writing import H14, PREFIX, write


def test_multi_file_hour_holds_every_row_once_in_order(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    frame = records(5500)
    result = write(dest, frame, max_rows_per_file=2000)
    manifest = result.manifest
    assert manifest is not None
    assert [f.rows for f in manifest.files] == [2000, 2000, 1500]
    assert manifest.total_rows == 5500
    tag = content_tag(frame, WriteSettings(slice_rows=1000, max_rows_per_file=2000))
    expected_names = [f"batch_{layout.batch_id('prod', H14, i, tag)}.jsonl.gz" for i in range(3)]
    assert [f.name for f in manifest.files] == expected_names
    folder = archive_root / layout.hour_dir(PREFIX, H14)
    lines = [
        json.loads(x)
        for name in expected_names
        for x in gzip.decompress((folder / name).read_bytes()).splitlines()
    ]
    assert [line["request_id"] for line in lines] == frame["request_id"].to_list()
    for entry in manifest.files:
        data = (folder / entry.name).read_bytes()
        assert entry.bytes == len(data)
        assert entry.sha256 == hashlib.sha256(data).hexdigest()
        assert entry.uncompressed_bytes == len(gzip.decompress(data))
    assert read_hour(dest, PREFIX, H14).equals(frame)


def test_files_are_standard_gzip_for_gzip_and_zcat(archive_root: Path) -> None:
    if not shutil.which("gzip"):
        pytest.fail("the gzip command is needed to check the archive the way operators do")
    dest = LocalDestination(path=str(archive_root))
    write(dest, records(3000), max_rows_per_file=100_000)  # several gzip members in one file
    [path] = list(archive_root.rglob("batch_*.jsonl.gz"))
    subprocess.run(["gzip", "-t", str(path)], check=True)
    out = subprocess.run(["zcat", str(path)], check=True, capture_output=True).stdout
    assert len(out.splitlines()) == 3000


def test_byte_limit_splits_files_below_the_limit(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    result = write(dest, records(20_000), max_bytes_per_file=40_000, slice_rows=500)
    assert result.manifest is not None and len(result.manifest.files) > 1
    assert all(f.bytes <= 40_000 for f in result.manifest.files)
    assert sum(f.rows for f in result.manifest.files) == 20_000


def test_rerun_gives_byte_identical_files_and_no_extra_objects(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    frame = records(4000)
    write(dest, frame, max_rows_per_file=1500)
    before = tree_bytes(archive_root)
    write(
        dest,
        frame.sample(fraction=1.0, shuffle=True, seed=3).sort("timestamp", "request_id"),
        max_rows_per_file=1500,
    )
    assert tree_bytes(archive_root) == before
    assert len(before) == 4  # three batches and the manifest


def test_shrinking_hour_removes_stale_batches(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    write(dest, records(5000), max_rows_per_file=2000)
    result = write(dest, records(1000), max_rows_per_file=2000)
    assert len(result.removed) == 3  # new rows, new keys: every earlier batch goes
    files = read_archive_lines(archive_root)
    assert len(files) == 1 and len(next(iter(files.values()))) == 1000


def test_empty_hour_writes_only_a_manifest_of_zero_rows(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    result = write(dest, records(0))
    assert not result.kept and result.uris == []
    assert (result.manifest.total_rows, result.manifest.files) == (0, [])
    [only] = [p for p in archive_root.rglob("*") if p.is_file()]
    assert only.name == layout.MANIFEST_NAME
    assert Manifest.from_bytes(only.read_bytes(), "x") == result.manifest


def test_an_empty_rerun_keeps_an_archived_hour(archive_root: Path) -> None:
    # A pruned or misread source must not wipe an hour that was archived whole.
    dest = LocalDestination(path=str(archive_root))
    write(dest, records(10))
    before = tree_bytes(archive_root)
    result = write(dest, records(0))
    assert result.kept and result.removed == []
    assert result.manifest.total_rows == 10 and len(result.uris) == 1  # what it kept
    assert tree_bytes(archive_root) == before


def test_an_empty_rerun_clears_leftovers_of_a_crashed_write(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    write(dest, records(10))
    dest.delete_object(layout.manifest_key(PREFIX, H14))  # as a crashed first write leaves it
    result = write(dest, records(0))
    assert not result.kept and len(result.removed) == 1
    assert [p.name for p in archive_root.rglob("*") if p.is_file()] == [layout.MANIFEST_NAME]
    assert result.manifest.total_rows == 0


def test_rejects_are_kept_beside_the_hour(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    rejects = pl.DataFrame(
        {
            "source_file": ["s.ndjson"],
            "line_number": [7],
            "reason": ["not valid JSON"],
            "line": ["{oops"],
        }
    )
    result = write(dest, records(3), rejects)
    assert result.manifest is not None and result.manifest.rejected_rows == 1
    assert result.manifest.rejects is not None
    kept_path = archive_root / layout.hour_dir(PREFIX, H14) / result.manifest.rejects.name
    assert layout.is_rejects_key(kept_path.name)
    kept = gzip.decompress(kept_path.read_bytes()).splitlines()
    assert json.loads(kept[0]) == {
        "source_file": "s.ndjson",
        "line_number": 7,
        "reason": "not valid JSON",
        "line": "{oops",
    }
    write(dest, records(3))
    assert not kept_path.exists()


class CrashingDestination(LocalDestination):
    """A real local folder whose writes fail at one key, as a crash or lost network would."""

    crash_at: str

    @contextmanager
    def open_object(self, key: str, kind: ObjectKind) -> Iterator[ObjectSink]:
        with super().open_object(key, kind) as sink:
            if key == self.crash_at:
                sink.write(b"partial bytes")
                raise ConnectionError("simulated crash while writing")
            yield sink


def test_crash_mid_hour_leaves_the_previous_hour_whole(archive_root: Path) -> None:
    good = LocalDestination(path=str(archive_root))
    write(good, records(3000), max_rows_per_file=1000)
    new = records(3000, minute_step=0.002)
    tag = content_tag(new, WriteSettings(slice_rows=1000, max_rows_per_file=1000))
    second = layout.batch_key(PREFIX, "prod", H14, 1, tag)
    crashing = CrashingDestination(path=str(archive_root), crash_at=second)
    with pytest.raises(ConnectionError):
        write(crashing, new, max_rows_per_file=1000)
    folder = archive_root / layout.hour_dir(PREFIX, H14)
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if n.startswith(".")]  # no temp file left behind
    assert not (folder / Path(second).name).exists()  # nothing partial under its key
    # The previous manifest was never removed, and every file it lists is untouched.
    assert read_hour(good, PREFIX, H14).equals(records(3000))
    result = write(good, new, max_rows_per_file=1000)
    assert Manifest.from_bytes((folder / layout.MANIFEST_NAME).read_bytes(), "x") == result.manifest
    assert read_hour(good, PREFIX, H14).equals(records(3000, minute_step=0.002))
