"""`prism-dagster sql`: DuckDB's definitions run on archives the real pipeline wrote (a local
folder, moto's S3 and Azurite); Athena's, BigQuery's and Synapse's parse in sqlglot and match
reviewed files in ``expected/``."""

from __future__ import annotations

import fnmatch
import gzip
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import duckdb_ext
import pytest
import sqlglot
import yaml
from sqlglot import exp

from prism_dagster.archive import layout
from prism_dagster.archive.schema import RECORD_COLUMNS, RECORD_SCHEMA
from prism_dagster.cli.main import main
from prism_dagster.cli.sql import render
from prism_dagster.config import parse_config
from prism_dagster.definitions import build_definitions
from prism_dagster.errors import PrismError
from prism_dagster.names import PARTITION_KEY_FORMAT as HOUR_KEY
from prism_dagster.names import archive_job_name
from prism_dagster.queries import paths
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.archive_reader import read_archive_lines
from prism_dagster_tests.support.rows import hour
from prism_dagster_tests.support.stores import AzureStore, S3Store, Store

FIRST, LAST = hour("2026-03-31T22"), hour("2026-04-01T01")  # four busy hours across midnight
PREFIX = "prism/production"
ROWS_PER_FILE = 20  # several batch files per hour
EXPECTED = Path(__file__).parent / "expected"
SELECT_RECORD = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
DUCK_TYPES = {"String": "VARCHAR", "Int64": "BIGINT", "Float64": "DOUBLE", "Boolean": "BOOLEAN"}
#: Fixed integrations, one per cloud, whose SQL was reviewed into expected/<engine>_<provider>.sql.
_FIXED = {"prefix": PREFIX, "start": "2026-03-01T00"}
REVIEWED: dict[str, Any] = {
    "source": {"kind": "spool", "path": "spool"},
    "integrations": [
        {"name": "lake", "provider": "s3", "bucket": "acme-llm-logs", "region": "eu-west-1"}
        | _FIXED,
        {
            "name": "lake_gcs",
            "provider": "gcs",
            "bucket": "acme-llm-logs-gcs",
            "service_account_json": {"env": "GCP_SA_JSON"},
        }
        | _FIXED,
        {
            "name": "lake_azure",
            "provider": "azure",
            "account_url": "https://acmellmlogs.blob.core.windows.net",
            "container": "llm-logs",
            "sas_token": {"env": "AZURE_SAS"},
        }
        | _FIXED,
    ],
}
CASES = {"athena": "lake", "bigquery": "lake_gcs", "synapse": "lake_azure"}


def _write_config(folder: Path, config: dict[str, Any]) -> Path:
    path = folder / "prism.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _archive(spool: Path, integration: dict[str, Any], folder: Path) -> Path:
    """Archive FIRST..LAST with one Dagster run of the real job; the prism.yaml used."""
    config = {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [
            {"name": "prod", "prefix": PREFIX, "start": "2026-03-31T00", **integration}
        ],
    }
    tags = {
        "dagster/asset_partition_range_start": FIRST.strftime(HOUR_KEY),
        "dagster/asset_partition_range_end": LAST.strftime(HOUR_KEY),
    }
    with dg.instance_for_test() as instance:
        job = build_definitions(parse_config(config)).resolve_job_def(archive_job_name("prod"))
        assert job.execute_in_process(tags=tags, instance=instance).success
    return _write_config(folder, config)


def _duckdb() -> duckdb.DuckDBPyConnection:
    """DuckDB with its extensions from PyPI and ``getenv``, a CLI-only function, for Python."""
    folder = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con = duckdb.connect(
        config={"extension_directory": str(folder), "autoinstall_known_extensions": False}
    )
    con.create_function("getenv", lambda name: os.environ.get(name), ["VARCHAR"], "VARCHAR")
    return con


def _files_read(con: duckdb.DuckDBPyConnection, query: str) -> int:
    plan = con.sql("EXPLAIN ANALYZE " + query).fetchall()[0][1]
    return sum(int(n) for n in re.findall(r"Total Files Read: (\d+)", plan))


def _by_hour(files: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Rows per hour folder (``2026/03/31/hour=22``) of batch files keyed by path."""
    counts: dict[str, int] = {}
    for key, lines in files.items():
        folder = re.search(paths.batch_file_regex(), "/" + key).group(1)  # type: ignore[union-attr]
        counts[folder] = counts.get(folder, 0) + len(lines)
    return counts


@pytest.fixture(scope="module")
def spool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("spool")
    simulate(folder, FIRST, LAST + layout.ONE_HOUR, rate=150, seed=7, bad_lines=2)
    return folder


@pytest.fixture(scope="module")
def local(spool: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(prism.yaml, archive root) of a local archive: 2-3 files and a rejects file per hour."""
    root = tmp_path_factory.mktemp("archive")
    integration = {"provider": "local", "path": str(root), "max_rows_per_file": ROWS_PER_FILE}
    return _archive(spool, integration, tmp_path_factory.mktemp("config")), root


@pytest.fixture(scope="module", params=["s3", "azure"])
def cloud(
    request: pytest.FixtureRequest, spool: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Store]]:
    """(prism.yaml, store) of the same hours archived to moto's S3 or Azurite, keys in the env."""
    if request.param == "s3":
        store: Store = S3Store(request.getfixturevalue("moto"))
    else:
        store = AzureStore(request.getfixturevalue("azurite"))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in store.env.items():
            patch.setenv(name, value)
        integration = store.integration(max_rows_per_file=ROWS_PER_FILE)
        yield _archive(spool, integration, tmp_path_factory.mktemp(request.param)), store


def test_duckdb_view_holds_exactly_the_archived_lines(local: tuple[Path, Path]) -> None:
    config, root = local
    con = _duckdb()
    con.execute(render(config, "prod", "duckdb"))
    files = read_archive_lines(root)
    lines = [tuple(line[c] for c in RECORD_COLUMNS) for rows in files.values() for line in rows]
    got = con.sql(f"SELECT {SELECT_RECORD} FROM prod_logs").fetchall()
    assert sorted(got) == sorted(lines)
    manifests = [json.loads(p.read_text()) for p in root.rglob(layout.MANIFEST_NAME)]
    assert len(got) == sum(m["total_rows"] for m in manifests)
    assert all(m["rejected_rows"] == 2 for m in manifests)  # rejects exist and are not read
    assert sum(len(m["files"]) for m in manifests) > len(manifests)  # several files per hour


def test_duckdb_view_columns_and_types_come_from_the_schema(local: tuple[Path, Path]) -> None:
    con = _duckdb()
    con.execute(render(local[0], "prod", "duckdb"))
    described = con.sql("DESCRIBE prod_logs").fetchall()
    expected = [(n, DUCK_TYPES[str(t.base_type())]) for n, t in RECORD_SCHEMA.items()]
    derived = [("day", "DATE"), ("hour", "INTEGER"), ("hour_start", "TIMESTAMP")]
    assert [(row[0], row[1]) for row in described] == expected + derived


def test_duckdb_day_and_hour_come_from_each_files_folder(local: tuple[Path, Path]) -> None:
    config, root = local
    con = _duckdb()
    con.execute(render(config, "prod", "duckdb"))
    got = con.sql(
        "SELECT strftime(hour_start, '%Y/%m/%d/hour=%H'), strftime(day, '%Y/%m/%d'), hour, "
        "count(*) FROM prod_logs GROUP BY ALL"
    ).fetchall()
    assert {folder: n for folder, _, _, n in got} == _by_hour(read_archive_lines(root))
    assert all(folder == f"{day}/hour={h:02d}" for folder, day, h, _ in got)


def test_duckdb_filters_on_day_and_hour_read_only_those_files(local: tuple[Path, Path]) -> None:
    config, root = local
    con = _duckdb()
    con.execute(render(config, "prod", "duckdb"))
    per_hour = {
        f: len(list((root / layout.logs_dir(PREFIX) / f).glob(paths.batch_name_glob())))
        for f in _by_hour(read_archive_lines(root))
    }
    assert _files_read(con, "SELECT count(*) FROM prod_logs") == sum(per_hour.values())
    assert (
        _files_read(con, "SELECT count(*) FROM prod_logs WHERE hour = 23")
        == (per_hour["2026/03/31/hour=23"])
    )
    day = "SELECT count(*) FROM prod_logs WHERE day = DATE '2026-04-01'"
    assert _files_read(con, day) == per_hour["2026/04/01/hour=00"] + per_hour["2026/04/01/hour=01"]
    both = "SELECT count(*) FROM prod_logs WHERE day = '2026-04-01' AND hour = 1"
    assert _files_read(con, both) == per_hour["2026/04/01/hour=01"]
    span = (
        "SELECT count(*) FROM prod_logs "
        "WHERE hour_start >= '2026-03-31 23:00' AND hour_start < '2026-04-01 01:00'"
    )
    assert _files_read(con, span) == per_hour["2026/03/31/hour=23"] + per_hour["2026/04/01/hour=00"]


def test_duckdb_filter_never_opens_another_hours_file(
    local: tuple[Path, Path], tmp_path: Path
) -> None:
    config, root = local
    copy = tmp_path / "archive"
    shutil.copytree(root, copy)
    bad = (
        copy / layout.hour_dir(PREFIX, FIRST) / f"{layout.BATCH_PREFIX}corrupt{layout.BATCH_SUFFIX}"
    )
    bad.write_bytes(b"this is not gzip")
    moved = yaml.safe_load(config.read_text())
    moved["integrations"][0]["path"] = str(copy)
    con = _duckdb()
    con.execute(render(_write_config(tmp_path, moved), "prod", "duckdb"))
    with pytest.raises(duckdb.Error):
        con.sql("SELECT count(*) FROM prod_logs").fetchall()
    [(rows,)] = con.sql("SELECT count(*) FROM prod_logs WHERE hour = 23").fetchall()
    manifest = json.loads((copy / layout.manifest_key(PREFIX, hour("2026-03-31T23"))).read_text())
    assert rows == manifest["total_rows"] > 0


def test_duckdb_view_on_emulators_reads_the_manifests_rows(cloud: tuple[Path, Store]) -> None:
    config, store = cloud
    sql = render(config, "prod", "duckdb")
    secret = {"s3": "TEST_AWS_SECRET", "azure": "TEST_AZURE_CONNECTION"}[store.provider]
    assert f"getenv('{secret}')" in sql and store.env[secret] not in sql
    con = _duckdb()
    con.execute(sql)
    objects = store.objects()
    files = {
        k: [json.loads(x) for x in gzip.decompress(v.data).splitlines()]
        for k, v in objects.items()
        if layout.is_batch_key(k)
    }
    assert any(layout.is_rejects_key(k) for k in objects)
    manifests = {
        re.search(r"(\d{4}/\d{2}/\d{2}/hour=\d{2})/", k).group(1): json.loads(v.data)  # type: ignore[union-attr]
        for k, v in objects.items()
        if k.endswith(layout.MANIFEST_NAME)
    }
    got = con.sql(f"SELECT {SELECT_RECORD} FROM prod_logs").fetchall()
    lines = [tuple(line[c] for c in RECORD_COLUMNS) for rows in files.values() for line in rows]
    assert sorted(got) == sorted(lines)
    assert _by_hour(files) == {f: m["total_rows"] for f, m in manifests.items()}
    query = "SELECT count(*) FROM prod_logs WHERE day = '2026-03-31' AND hour = 22"
    assert con.sql(query).fetchall() == [(manifests["2026/03/31/hour=22"]["total_rows"],)]
    assert _files_read(con, query) == len(manifests["2026/03/31/hour=22"]["files"])


@pytest.mark.parametrize(("engine", "dialect"), [("athena", "athena"), ("bigquery", "bigquery")])
def test_cloud_definitions_parse_in_sqlglot(tmp_path: Path, engine: str, dialect: str) -> None:
    sql = render(_write_config(tmp_path, REVIEWED), CASES[engine], engine)
    statements = sqlglot.parse(sql, read=dialect)
    assert [type(s) for s in statements] == [exp.Create, exp.Create]
    assert not any(s.find(exp.Command) for s in statements)  # no unparsed fallback
    columns = [c.name for c in statements[0].find_all(exp.ColumnDef)]
    assert columns[: len(RECORD_COLUMNS)] == list(RECORD_COLUMNS)


def test_synapse_definition_parses_in_sqlglot_around_openrowset(tmp_path: Path) -> None:
    sql = render(_write_config(tmp_path, REVIEWED), CASES["synapse"], "synapse")
    # sqlglot (30.x) has no OPENROWSET(BULK ...) rowset: stand a table in for that one source.
    rowset = re.compile(
        r"OPENROWSET\(\n    BULK '[^']*',(\n    \w+ = '[^']*',?)+\n\) WITH \(doc NVARCHAR\(MAX\)\)"
    )
    assert len(rowset.findall(sql)) == 1
    [statement] = sqlglot.parse(rowset.sub("rowset_source", sql), read="tsql")
    assert isinstance(statement, exp.Create) and not statement.find(exp.Command)
    names = [c.name for c in statement.find(exp.OpenJSON).expressions]  # type: ignore[union-attr]
    assert names == list(RECORD_COLUMNS)


@pytest.mark.parametrize(
    ("engine", "name"),
    [*CASES.items(), ("duckdb", "lake"), ("duckdb", "lake_gcs"), ("duckdb", "lake_azure")],
)
def test_definitions_match_the_reviewed_files(tmp_path: Path, engine: str, name: str) -> None:
    provider = {"lake": "s3", "lake_gcs": "gcs", "lake_azure": "azure"}[name]
    expected = (EXPECTED / f"{engine}_{provider}.sql").read_text()
    assert render(_write_config(tmp_path, REVIEWED), name, engine) == expected


def test_cli_prints_the_definitions_from_prism_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRISM_CONFIG", str(_write_config(tmp_path, REVIEWED)))
    assert main(["sql", "lake", "--engine", "athena"]) == 0
    assert capsys.readouterr().out == (EXPECTED / "athena_s3.sql").read_text()


def test_cli_refuses_an_engine_that_cannot_read_the_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_write_config(tmp_path, REVIEWED))
    assert main(["sql", "lake_gcs", "--engine", "athena", "--config", config]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert "athena cannot read integration 'lake_gcs'" in out.err
    assert "Use --engine duckdb or --engine bigquery." in out.err


def test_location_from_an_unset_variable_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOGS_BUCKET", raising=False)
    config = json.loads(json.dumps(REVIEWED))
    config["integrations"][0]["bucket"] = {"env": "LOGS_BUCKET"}
    path = _write_config(tmp_path, config)
    with pytest.raises(PrismError, match=r"bucket is read from \$LOGS_BUCKET, which is not set"):
        render(path, "lake", "athena")
    monkeypatch.setenv("LOGS_BUCKET", "from-env")
    assert "LOCATION 's3://from-env/prism/production/logs/'" in render(path, "lake", "athena")


def test_globs_and_regex_match_layouts_batch_keys_only() -> None:
    at = hour("2026-03-31T14")
    batch = layout.batch_key(PREFIX, "prod", at, 0, "tag")
    others = [
        layout.manifest_key(PREFIX, at),
        layout.rejects_key(PREFIX, at, "tag"),
        layout.lease_key(PREFIX, at),
    ]
    pattern = paths.batch_glob().split("/")

    def matches(key: str) -> bool:
        parts = key.removeprefix(layout.logs_folder(PREFIX)).split("/")
        return len(parts) == len(pattern) and all(map(fnmatch.fnmatchcase, parts, pattern))

    assert matches(batch) and not any(matches(k) for k in others)
    found = re.search(paths.batch_file_regex(), "s3://b/" + batch)
    assert found and found.group(1) == layout.hour_dir("", at).removeprefix("logs/")
    assert not any(re.search(paths.batch_file_regex(), "/" + k) for k in others)
