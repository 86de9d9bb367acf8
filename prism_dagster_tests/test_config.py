"""prism.yaml validation: every invalid entry names the integration and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from prism_dagster.config import EnvRef, load_config, parse_config, resolve
from prism_dagster.errors import ConfigError


def _config(**integration: Any) -> dict[str, Any]:
    entry = {"name": "prod", "provider": "local", "path": "/tmp/a", "start": "2026-03-01T00"}
    entry.update(integration)
    return {"source": {"kind": "spool", "path": "/tmp/spool"}, "integrations": [entry]}


def test_valid_config_parses_with_defaults() -> None:
    config = parse_config(_config(prefix="prism/production/"))
    [integration] = config.integrations
    assert integration.prefix == "prism/production"
    assert integration.start.isoformat() == "2026-03-01T00:00:00+00:00"
    assert integration.gzip_level == 6
    assert config.source.bad_records == "keep"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"provider": "ftp"}, "integration 'prod': unknown provider 'ftp'"),
        ({"path": None}, "integration 'prod': field 'path'"),
        ({"prefix": "a/../b"}, "integration 'prod': field 'prefix': must not contain"),
        ({"prefix": "/prism"}, "integration 'prod': field 'prefix': must not start with '/'"),
        ({"prefix": "prism/a#b"}, "integration 'prod': field 'prefix': segment 'a#b'"),
        ({"prefix": "prism//a"}, "integration 'prod': field 'prefix'"),
        (
            {"start": "2026-03-01T00:30"},
            "integration 'prod': field 'start': '2026-03-01T00:30' is not on",
        ),
        ({"start": "yesterday"}, "integration 'prod': field 'start'"),
        ({"gzip_level": 11}, "integration 'prod': field 'gzip_level'"),
        ({"name": "my-prod"}, "integration 'my-prod': field 'name'"),
        ({"bucket": "x"}, "integration 'prod': unknown field 'bucket'"),
    ],
)
def test_invalid_entries_name_integration_and_field(change: dict[str, Any], message: str) -> None:
    raw = _config(**change)
    if change.get("path", 1) is None:
        del raw["integrations"][0]["path"]
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert message in str(caught.value)


def test_missing_required_field_is_named() -> None:
    raw = _config()
    del raw["integrations"][0]["start"]
    with pytest.raises(
        ConfigError, match="integration 'prod': field 'start': required field is missing"
    ):
        parse_config(raw)


def test_duplicate_names_are_refused() -> None:
    raw = _config()
    raw["integrations"].append(dict(raw["integrations"][0]))
    with pytest.raises(ConfigError, match="integration 'prod': name is used twice"):
        parse_config(raw)


def test_env_reference_becomes_dagster_env_var() -> None:
    config = parse_config(_config(path={"env": "PRISM_ARCHIVE_DIR"}))
    value = config.integrations[0].path
    assert value == EnvRef("PRISM_ARCHIVE_DIR")
    resolved = resolve(value)
    assert isinstance(resolved, dg.EnvVar) and resolved.env_var_name == "PRISM_ARCHIVE_DIR"


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = _config(path="archive")
    raw["source"]["path"] = "spool"
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "prism.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRISM_CONFIG", str(tmp_path / "conf" / "prism.yaml"))
    config = load_config()
    assert config.source.path == str(tmp_path / "conf" / "spool")
    assert config.integrations[0].path == str(tmp_path / "conf" / "archive")


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def _two(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    base = {"start": "2026-03-01T00"}
    return {
        "source": {"kind": "spool", "path": "/tmp/spool"},
        "integrations": [{"name": "a", **base, **first}, {"name": "b", **base, **second}],
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"provider": "local", "path": "/tmp/x"}, {"provider": "local", "path": "/tmp/x/."}),
        ({"provider": "local", "path": "/tmp/x"}, {"provider": "local", "path": "/tmp/y/../x"}),
        (
            {"provider": "s3", "bucket": "logs", "region": "eu-west-1"},
            {"provider": "s3", "bucket": {"env": "TEST_ALIAS_BUCKET"}, "region": "us-east-1"},
        ),
        (
            {"provider": "s3", "bucket": "logs", "region": "x", "endpoint_url": "http://H:9000"},
            {"provider": "s3", "bucket": "logs", "region": "x", "endpoint_url": "http://h:9000/"},
        ),
        (
            {"provider": "gcs", "bucket": "logs", "prefix": "p/"},
            {"provider": "gcs", "bucket": "logs", "prefix": "p"},
        ),
    ],
)
def test_aliased_destinations_are_refused_at_load(first, second, monkeypatch) -> None:
    monkeypatch.setenv("TEST_ALIAS_BUCKET", "logs")
    with pytest.raises(ConfigError, match="integration 'b': writes the same destination"):
        parse_config(_two(first, second))


def test_a_relative_and_an_absolute_path_to_one_folder_are_refused(tmp_path: Path) -> None:
    raw = _two(
        {"provider": "local", "path": "archive"},
        {"provider": "local", "path": str(tmp_path / "archive")},
    )
    (tmp_path / "prism.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="integration 'b': writes the same destination"):
        load_config(tmp_path / "prism.yaml")


def test_other_prefixes_on_one_bucket_are_fine() -> None:
    raw = _two(
        {"provider": "s3", "bucket": "logs", "region": "x", "prefix": "a"},
        {"provider": "s3", "bucket": "logs", "region": "x", "prefix": "b"},
    )
    assert [i.name for i in parse_config(raw).integrations] == ["a", "b"]


def test_a_key_given_twice_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "prism.yaml"
    path.write_text(
        "source: {kind: spool, path: /tmp/spool}\n"
        "integrations:\n"
        "  - name: prod\n    provider: local\n    path: /tmp/a\n    path: /tmp/b\n"
        "    start: 2026-03-01T00\n"
    )
    with pytest.raises(ConfigError, match="key 'path' is given twice"):
        load_config(path)


def test_a_literal_password_in_the_status_store_url_is_refused() -> None:
    raw = _config()
    raw["status_store"] = {"url": "postgresql://prism:hunter22@db/prism"}
    with pytest.raises(ConfigError, match="status_store") as caught:
        parse_config(raw)
    assert "hunter22" not in str(caught.value) and "use url: {env: NAME}" in str(caught.value)


def test_a_misspelt_retry_setting_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"integration 'prod': unknown field 'retry\.give_up_after'"
    ):
        parse_config(_config(retry={"give_up_after": 300}))


def test_yaml_merge_keys_still_load(tmp_path: Path) -> None:
    path = tmp_path / "prism.yaml"
    path.write_text(
        "source: {kind: spool, path: /tmp/spool}\n"
        "integrations:\n"
        "  - &first {name: a, provider: local, path: /tmp/a, start: 2026-03-01T00}\n"
        "  - <<: *first\n    name: b\n    path: /tmp/b\n"
    )
    assert [i.name for i in load_config(path).integrations] == ["a", "b"]


def test_relative_folders_are_compared_next_to_prism_yaml_not_the_working_dir(
    tmp_path: Path, monkeypatch
) -> None:
    raw = _two(
        {"provider": "local", "path": "archive"},
        {"provider": "local", "path": str(tmp_path / "elsewhere" / "archive")},
    )
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "prism.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # "archive" from here would be b's folder
    assert len(load_config(tmp_path / "cfg" / "prism.yaml").integrations) == 2


def test_starting_a_destination_outside_a_run_names_a_missing_variable(monkeypatch) -> None:
    from prism_dagster.defs.resources import live

    monkeypatch.delenv("TEST_UNSET_SECRET", raising=False)
    raw = _config(
        provider="s3",
        bucket="logs",
        region="eu-west-1",
        access_key_id="AKIAEXAMPLE",
        secret_access_key={"env": "TEST_UNSET_SECRET"},
    )
    del raw["integrations"][0]["path"]
    [integration] = parse_config(raw).integrations
    with pytest.raises(ConfigError, match="environment variable TEST_UNSET_SECRET is not set"):
        live(integration.destination())
    monkeypatch.setenv("TEST_UNSET_SECRET", "s3cr3t-value")
    started = live(integration.destination())
    assert started.s3.aws_secret_access_key == "s3cr3t-value"  # read now, as in a run


def test_a_components_attributes_tell_every_problem_as_prism_yaml_does() -> None:
    from pydantic import ValidationError

    from prism_dagster.component import PrismArchiveAttributes

    raw = _config(gzip_levl=6, provider="s3", bucket="b", region="r")
    del raw["integrations"][0]["path"]
    raw["integrations"][0].update(access_key_id="AKIAEXAMPLE", secret_access_key="hunter2hunter2")
    with pytest.raises(ValidationError) as caught:
        PrismArchiveAttributes.model_validate(raw)  # what `dg check defs` shows
    said = str(caught.value)
    assert "integration 'prod': unknown field 'gzip_levl' (did you mean 'gzip_level'?)" in said
    assert "integration 'prod': field 'secret_access_key': secrets are never written" in said
    assert "hunter2hunter2" not in said
