"""S3 without keys: the plugin's credential chain through web identity (IRSA and other OIDC
workload identities), against moto's STS with IAM enforced.

The integration holds no keys; the environment holds only AWS_ROLE_ARN and
AWS_WEB_IDENTITY_TOKEN_FILE (plus AWS_ENDPOINT_URL_STS for the emulator), and every other
place botocore looks for credentials is emptied. moto checks every S3 request's signature and
policy, and the role's only policy is what ``prism-dagster permissions`` prints.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from prism_dagster.archive import layout
from prism_dagster.cli import main
from prism_dagster.config import parse_config
from prism_dagster.defs.resources import live
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.moto_iam import IamMoto, iam_moto
from prism_dagster_tests.support.rows import hour
from prism_dagster_tests.support.runs import materialise
from prism_dagster_tests.support.stores import new_name
from prism_dagster_tests.support.sts_gateway import StsGateway, sts_gateway

H = hour("2026-03-31T14")
PREFIX = "prism/production"
#: Every other source of credentials in botocore's chain, and any earlier web identity.
OTHER_CREDENTIALS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture(scope="module")
def moto() -> Iterator[IamMoto]:
    with iam_moto() as server:
        yield server


@pytest.fixture
def sts(moto: IamMoto) -> Iterator[StsGateway]:
    with sts_gateway(moto) as gateway:
        yield gateway


@pytest.fixture
def keyless(
    moto: IamMoto, sts: StsGateway, spool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A bucket, prism.yaml with a keyless S3 integration, an environment with no credentials."""
    bucket = new_name()
    moto.client("s3").create_bucket(Bucket=bucket)
    integration = {
        "name": "prod",
        "provider": "s3",
        "bucket": bucket,
        "region": "us-east-1",
        "endpoint_url": moto.endpoint_url,
        "prefix": PREFIX,
        "start": "2026-03-31T00",
        "retry": {"attempts": 2, "initial_backoff_s": 0.05, "give_up_after_s": 2},
    }
    config = {"source": {"kind": "spool", "path": str(spool)}, "integrations": [integration]}
    path = tmp_path / "prism.yaml"
    path.write_text(yaml.safe_dump(config))
    for name in OTHER_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.url)
    return {"bucket": bucket, "config": config, "path": path}


def _assume_by_web_identity(
    moto: IamMoto,
    keyless: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    granted: bool = True,
) -> str:
    """A role holding only the printed policy (or nothing), and the two variables a workload
    identity sets."""
    assert main(["permissions", "prod", "--config", str(keyless["path"])]) == 0
    policy = json.loads(capsys.readouterr().out)["policy"]
    role = moto.role_with_policy(new_name(), policy if granted else None)
    token = keyless["path"].with_name("token")
    token.write_text("eyJ-an-oidc-token-from-the-cluster")  # moto takes any 4+ characters
    monkeypatch.setenv("AWS_ROLE_ARN", role)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    return role


def test_an_hour_archives_with_the_role_of_a_web_identity(
    moto, sts, keyless, spool, monkeypatch, capsys
) -> None:
    role = _assume_by_web_identity(moto, keyless, monkeypatch, capsys)
    simulate(spool, H, H + layout.ONE_HOUR, rate=200, seed=3)
    assert materialise(keyless["config"], H).success
    stored = moto.client("s3").list_objects_v2(Bucket=keyless["bucket"])["Contents"]
    keys = [item["Key"] for item in stored]
    assert layout.manifest_key(PREFIX, H) in keys
    assert all(key.startswith(f"{PREFIX}/logs/") for key in keys)
    assert sts.calls and {c["Action"] for c in sts.calls} == {"AssumeRoleWithWebIdentity"}
    assert {c["RoleArn"] for c in sts.calls} == {role}


def test_its_requests_are_signed_with_the_roles_temporary_keys(
    moto, sts, keyless, monkeypatch, capsys
) -> None:
    _assume_by_web_identity(moto, keyless, monkeypatch, capsys)
    dest = live(parse_config(keyless["config"]).integrations[0].destination())
    signed: list[str | bytes] = []
    dest.client().meta.events.register(
        "before-send.s3", lambda request, **_: signed.append(request.headers["Authorization"])
    )
    assert dest.create_if_absent(f"{PREFIX}/logs/probe.json", b"{}")
    access_key = signed[0].decode() if isinstance(signed[0], bytes) else signed[0]
    assert "Credential=ASIA" in access_key  # STS session keys; an IAM user's start with AKIA


def test_without_the_web_identity_there_are_no_credentials(keyless, capsys) -> None:
    code = main(["validate", "prod", "--config", str(keyless["path"])])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL  write probe" in out and "Unable to locate credentials" in out


def test_a_role_without_the_policy_is_denied(moto, keyless, monkeypatch, capsys) -> None:
    _assume_by_web_identity(moto, keyless, monkeypatch, capsys, granted=False)
    code = main(["validate", "prod", "--config", str(keyless["path"])])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL  write probe" in out and "access denied" in out
