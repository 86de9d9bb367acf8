"""`prism-dagster validate` on real servers: success, and each failure in operator terms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from prism_dagster.cli import main
from prism_dagster_tests.support.cli import prism
from prism_dagster_tests.support.process import free_port
from prism_dagster_tests.support.stores import AzureStore, GcsStore, S3Store, Store, new_name

FAST_RETRY = {"attempts": 2, "initial_backoff_s": 0.05, "max_backoff_s": 0.1}


def _validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], integration: dict[str, Any]
) -> tuple[int, str]:
    config = {
        "source": {"kind": "spool", "path": str(tmp_path)},
        "integrations": [
            {"name": "prod", "start": "2026-03-01T00", "retry": FAST_RETRY, **integration}
        ],
    }
    path = tmp_path / "prism.yaml"
    path.write_text(yaml.safe_dump(config))
    code = main(["validate", "prod", "--config", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _store(kind: str, moto, azurite, gcs, monkeypatch: pytest.MonkeyPatch) -> Store:
    made = {
        "s3": lambda: S3Store(moto),
        "azure": lambda: AzureStore(azurite),
        "gcs": lambda: GcsStore(gcs),
    }[kind]()
    for name, value in made.env.items():
        monkeypatch.setenv(name, value)
    return made


@pytest.mark.parametrize("kind", ["s3", "azure", "gcs"])
def test_validate_passes_every_step(
    kind, tmp_path, capsys, monkeypatch, moto, azurite, gcs
) -> None:
    store = _store(kind, moto, azurite, gcs, monkeypatch)
    code, out = _validate(tmp_path, capsys, store.integration(prefix="prism/production"))
    assert code == 0, out
    for step in ("write probe", "read back", "list prefix", "delete probe"):
        assert f"PASS  {step}" in out
    if kind == "gcs":  # the emulator ignores ifGenerationMatch=0; real GCS honours it
        assert "WARN  one writer" in out and "ignores create-if-absent" in out
        assert out.strip().endswith("result: OK (1 warning(s))")
    else:
        assert "PASS  one writer" in out
        assert out.strip().endswith("result: OK")
    assert store.objects() == {}  # the probe is gone


@pytest.mark.parametrize("kind", ["s3", "azure", "gcs"])
def test_missing_bucket_or_container_is_named(
    kind, tmp_path, capsys, monkeypatch, moto, azurite, gcs
) -> None:
    store = _store(kind, moto, azurite, gcs, monkeypatch)
    missing = new_name()
    field = "container" if kind == "azure" else "bucket"
    code, out = _validate(tmp_path, capsys, store.integration(**{field: missing}))
    assert code == 1
    assert "FAIL  write probe" in out and "bucket or container missing" in out
    assert f"{field} {missing!r}" in out and "integration 'prod'" in out
    assert "SKIP  read back" in out and "result: FAILED" in out


@pytest.mark.parametrize("kind", ["s3", "azure", "gcs"])
def test_unreachable_endpoint(kind, tmp_path, capsys, monkeypatch, moto, azurite, gcs) -> None:
    store = _store(kind, moto, azurite, gcs, monkeypatch)
    dead = f"http://127.0.0.1:{free_port()}"
    if isinstance(store, AzureStore):
        connection = store.env["TEST_AZURE_CONNECTION"]
        endpoint = connection.split("BlobEndpoint=")[1].split(";")[0]
        monkeypatch.setenv(
            "TEST_AZURE_CONNECTION", connection.replace(endpoint.rsplit("/", 1)[0], dead)
        )
        integration = store.integration()
    else:
        integration = store.integration(endpoint_url=dead)
    code, out = _validate(tmp_path, capsys, integration)
    assert code == 1
    assert "FAIL  write probe" in out and "endpoint unreachable" in out


def test_azure_wrong_account_key_fails_without_showing_it(
    tmp_path, capsys, monkeypatch, azurite
) -> None:
    store = AzureStore(azurite)
    wrong_key = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleQ=="
    monkeypatch.setenv(
        "TEST_AZURE_CONNECTION", azurite.connection_string.replace(azurite.account_key, wrong_key)
    )
    code, out = _validate(tmp_path, capsys, store.integration())
    assert code == 1 and "FAIL  write probe" in out
    assert "Check the account key" in out
    assert wrong_key not in out and azurite.account_key not in out


def test_gcs_bad_service_account_is_refused_without_echoing_it(
    tmp_path, capsys, monkeypatch, gcs
) -> None:
    store = GcsStore(gcs)
    secret = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n"
    key = {
        "type": "service_account",
        "client_email": "a@b.iam.gserviceaccount.com",
        "private_key": secret,
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    monkeypatch.setenv("TEST_GCS_KEY", json.dumps(key))
    code, out = _validate(
        tmp_path, capsys, store.integration(service_account_json={"env": "TEST_GCS_KEY"})
    )
    assert code == 1 and "invalid key or signature" in out
    assert "TOPSECRETKEYMATERIAL" not in out


# --- S3 with moto enforcing credentials and IAM policies ------------------------------------


def _s3(
    s3_auth: dict[str, Any], monkeypatch: pytest.MonkeyPatch, key_id: str, secret: str, **extra: Any
) -> dict[str, Any]:
    monkeypatch.setenv("TEST_AWS_KEY_ID", key_id)
    monkeypatch.setenv("TEST_AWS_SECRET", secret)
    return {
        "provider": "s3",
        "bucket": s3_auth["bucket"],
        "region": "us-east-1",
        "endpoint_url": s3_auth["endpoint"],
        "access_key_id": {"env": "TEST_AWS_KEY_ID"},
        "secret_access_key": {"env": "TEST_AWS_SECRET"},
        **extra,
    }


def test_s3_with_real_credentials_passes(s3_auth, tmp_path, capsys, monkeypatch) -> None:
    key_id, secret = s3_auth["keys"]["writer"]
    code, out = _validate(
        tmp_path, capsys, _s3(s3_auth, monkeypatch, key_id, secret, prefix="prism")
    )
    assert code == 0, out
    assert secret not in out


def test_s3_wrong_secret_is_an_invalid_signature_and_never_shown(
    s3_auth, tmp_path, capsys, monkeypatch
) -> None:
    key_id, secret = s3_auth["keys"]["writer"]
    wrong = secret[::-1]
    code, out = _validate(tmp_path, capsys, _s3(s3_auth, monkeypatch, key_id, wrong))
    assert code == 1
    assert "invalid key or signature" in out and "Check secret_access_key" in out
    assert wrong not in out and secret not in out


def test_s3_unknown_key_id(s3_auth, tmp_path, capsys, monkeypatch) -> None:
    code, out = _validate(
        tmp_path,
        capsys,
        _s3(s3_auth, monkeypatch, "AKIAUNKNOWNUNKNOWN12", "not-a-real-secret-value"),
    )
    assert code == 1 and "invalid key or signature" in out and "Check access_key_id" in out
    assert "not-a-real-secret-value" not in out


def test_s3_policy_denying_the_prefix_is_access_denied(
    s3_auth, tmp_path, capsys, monkeypatch
) -> None:
    key_id, secret = s3_auth["keys"]["denied"]
    code, out = _validate(
        tmp_path, capsys, _s3(s3_auth, monkeypatch, key_id, secret, prefix="locked")
    )
    assert code == 1
    assert "FAIL  write probe" in out and "access denied" in out and "s3:PutObject" in out
    assert secret not in out


def test_s3_without_delete_permission_is_a_warning(s3_auth, tmp_path, capsys, monkeypatch) -> None:
    key_id, secret = s3_auth["keys"]["nodelete"]
    code, out = _validate(
        tmp_path, capsys, _s3(s3_auth, monkeypatch, key_id, secret, prefix="prism")
    )
    assert code == 0, out
    assert "WARN  delete probe" in out and "no delete permission" in out
    assert "WARN  one writer" in out and "cannot be released without delete permission" in out
    assert "result: OK (2 warning(s))" in out


# --- the source --------------------------------------------------------------------------


def test_a_missing_spool_folder_fails_validation_with_its_cause(tmp_path: Path) -> None:
    (tmp_path / "prism.yaml").write_text(
        "source: {kind: spool, path: no_such_spool}\n"
        "integrations:\n  - {name: prod, provider: local, path: archive, start: 2026-03-01T00}\n"
    )
    done = prism("validate", "prod", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    [source] = [line for line in done.stdout.splitlines() if line.split()[1:2] == ["source"]]
    assert source.split()[0] == "FAIL"
    assert f"spool folder {tmp_path / 'no_such_spool'} does not exist" in source
    assert done.stdout.strip().endswith("result: FAILED")
