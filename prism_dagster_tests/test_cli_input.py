"""What the command says of input it cannot use: hours, simulate's summary, prism.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from prism_dagster_tests.support.cli import prism

FORM = "is not a UTC hour written YYYY-MM-DDTHH, such as 2026-03-31T14"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("lineage", "prod", "garbage"), f"lineage: argument HOUR: 'garbage' {FORM}"),
        (("lineage", "prod", "12/03/2026"), f"lineage: argument HOUR: '12/03/2026' {FORM}"),
        (("simulate", "--start", "yesterday"), f"simulate: argument --start: 'yesterday' {FORM}"),
        (("verify", "prod", "--to", "2026-04-01T00:30"), "'2026-04-01T00:30' is not on the hour"),
    ],
)
def test_a_malformed_hour_is_one_line_naming_the_form(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    done = prism(*args, cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert says in line


def test_a_bare_day_is_refused_as_an_hour(tmp_path: Path) -> None:
    done = prism("lineage", "prod", "2026-12-03", cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "'2026-12-03' is a day, not an hour: give 2026-12-03T00 for its first hour" in line


def test_simulate_counts_malformed_lines_and_hours_without_requests(tmp_path: Path) -> None:
    hours = ("--start", "2026-03-31T00", "--end", "2026-03-31T12")  # one hour in it is quiet
    done = prism(
        "simulate", "--spool", "sp", *hours, "--rate", "20", "--bad-lines", "2", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    said = done.stdout.strip()
    assert " and 24 malformed lines (--bad-lines 2 per hour) over 12 hours " in said
    assert "(1 quiet: no requests)" in said


def _invalid(tmp_path: Path, entry: str) -> str:
    """What `validate` says of a prism.yaml whose one integration is ``entry``."""
    (tmp_path / "prism.yaml").write_text(
        f"source: {{kind: spool, path: spool}}\nintegrations:\n  - {entry}\n"
    )
    done = prism("validate", "prod", cwd=tmp_path)
    assert done.returncode == 2
    return done.stderr


def test_a_mistyped_key_is_an_unknown_field_with_the_nearest_one(tmp_path: Path) -> None:
    said = _invalid(
        tmp_path,
        "{name: prod, provider: local, path: a, start: 2026-03-01T00, gzip_levl: 6,"
        " retry: {give_up_after: 30}}",
    )
    assert "integration 'prod': unknown field 'gzip_levl' (did you mean 'gzip_level'?)" in said
    assert (
        "integration 'prod': unknown field 'retry.give_up_after' "
        "(did you mean 'retry.give_up_after_s'?)"
    ) in said
    assert "Extra inputs" not in said


def test_a_literal_secret_does_not_hide_the_entrys_other_problems(tmp_path: Path) -> None:
    said = _invalid(
        tmp_path,
        "{name: prod, provider: s3, bucket: b, region: r, start: 2026-03-01T00,"
        " access_key_id: AKIAEXAMPLE, secret_access_key: hunter2hunter2, gzip_level: 42}",
    )
    assert "integration 'prod': field 'secret_access_key': secrets are never written" in said
    assert "integration 'prod': field 'gzip_level': Input should be less than or equal to 9" in said
    assert "hunter2hunter2" not in said
