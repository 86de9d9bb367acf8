"""`prism-dagster permissions NAME`: each provider's least-privilege access, as JSON or YAML,
and on moto (IAM enforced) the S3 policy is accepted by IAM and is exactly enough to archive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from prism_dagster.archive import layout
from prism_dagster.cli import main
from prism_dagster.config import parse_config
from prism_dagster.defs.resources import live
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.moto_iam import IamMoto, iam_moto
from prism_dagster_tests.support.rows import hour
from prism_dagster_tests.support.runs import materialise
from prism_dagster_tests.support.stores import new_name

PREFIX = "prism/production"
H = hour("2026-03-31T14")
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
S3 = {"provider": "s3", "bucket": "acme-logs", "region": "eu-west-1"}
AZURE = {
    "provider": "azure",
    "container": "logs",
    "account_url": "https://acme.blob.core.windows.net",
}
GCS = {"provider": "gcs", "bucket": "acme-gcs", "project": "acme"}
BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"


def _config(tmp_path: Path, integration: dict[str, Any]) -> Path:
    entry = {"name": "prod", "start": "2026-03-31T00", **integration}
    config = {"source": {"kind": "spool", "path": str(tmp_path)}, "integrations": [entry]}
    path = tmp_path / "prism.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _permissions(tmp_path: Path, capsys, integration: dict[str, Any], *flags: str) -> Any:
    code = main(["permissions", "prod", "--config", str(_config(tmp_path, integration)), *flags])
    out = capsys.readouterr().out
    assert code == 0, out
    return yaml.safe_load(out) if "yaml" in flags else json.loads(out)


def _statements(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s.pop("Sid"): s for s in found["policy"]["Statement"]}


def test_s3_policy_is_scoped_to_the_prefix(tmp_path, capsys) -> None:
    found = _permissions(tmp_path, capsys, {**S3, "prefix": PREFIX})
    assert set(found) == {
        "integration",
        "provider",
        "bucket",
        "prefixes",
        "policy",
        "commands",
        "notes",
    }
    assert found["policy"]["Version"] == "2012-10-17"
    actions = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    bucket = "arn:aws:s3:::acme-logs"
    assert _statements(found) == {
        "ArchiveObjects": {
            "Effect": "Allow", "Action": actions, "Resource": [f"{bucket}/{PREFIX}/*"]
        },
        "ListArchivePrefix": {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket],
            "Condition": {"StringLike": {"s3:prefix": [f"{PREFIX}/*"]}},
        },
        "FindUnfinishedUploads": {
            "Effect": "Allow", "Action": ["s3:ListBucketMultipartUploads"], "Resource": [bucket]
        },
    }  # fmt: skip
    assert found["commands"][0].startswith("aws iam create-policy --policy-name prism-archive-prod")


def test_s3_without_prefix_is_scoped_to_the_plugins_two_folders(tmp_path, capsys) -> None:
    statements = _statements(_permissions(tmp_path, capsys, S3))
    assert statements["ArchiveObjects"]["Resource"] == [
        "arn:aws:s3:::acme-logs/logs/*",
        "arn:aws:s3:::acme-logs/_prism_validate/*",
    ]
    prefixes = statements["ListArchivePrefix"]["Condition"]["StringLike"]["s3:prefix"]
    assert prefixes == ["logs/*", "_prism_validate/*"]


@pytest.mark.parametrize("sse", [None, "AES256", "aws:kms"])
def test_no_kms_statement_without_a_customer_key(tmp_path, capsys, sse) -> None:
    found = _permissions(tmp_path, capsys, {**S3, "sse": sse})
    assert "EncryptWithKmsKey" not in _statements(found)
    assert any("aws/s3" in n for n in found["notes"]) == (sse == "aws:kms")


def test_kms_key_arn_gets_generate_data_key_and_decrypt(tmp_path, capsys) -> None:
    found = _permissions(tmp_path, capsys, {**S3, "sse": "aws:kms", "kms_key_id": KEY_ARN})
    # No kms:ViaService condition: the destination's own key check calls KMS directly.
    assert _statements(found)["EncryptWithKmsKey"] == {
        "Effect": "Allow",
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
        "Resource": [KEY_ARN],
    }


def test_kms_key_id_or_alias_becomes_an_arn_with_the_account(tmp_path, capsys) -> None:
    bare = {**S3, "sse": "aws:kms", "kms_key_id": "1234abcd"}
    found = _permissions(tmp_path, capsys, bare, "--account-id", "111122223333")
    assert _statements(found)["EncryptWithKmsKey"]["Resource"] == [
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd"
    ]
    found = _permissions(tmp_path, capsys, {**bare, "kms_key_id": "alias/prism"})
    statement = _statements(found)["EncryptWithKmsKey"]
    # IAM never matches a key operation against an alias ARN: any key, while it has the alias.
    assert statement["Resource"] == ["arn:aws:kms:eu-west-1:<aws-account-id>:key/*"]
    aliases = statement["Condition"]["ForAnyValue:StringEquals"]
    assert aliases == {"kms:ResourceAliases": "alias/prism"}
    assert any("--account-id" in note for note in found["notes"])


def test_env_values_show_their_value_or_a_placeholder(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("PRISM_TEST_BUCKET", raising=False)
    integration = {**S3, "bucket": {"env": "PRISM_TEST_BUCKET"}}
    found = _permissions(tmp_path, capsys, integration)
    assert found["bucket"] == "${PRISM_TEST_BUCKET}"
    assert any("$PRISM_TEST_BUCKET is not set" in note for note in found["notes"])
    monkeypatch.setenv("PRISM_TEST_BUCKET", "from-env")
    assert _permissions(tmp_path, capsys, integration)["bucket"] == "from-env"


def test_azure_role_assignment_on_the_container_with_a_prefix_condition(tmp_path, capsys) -> None:
    flags = ("--subscription", "sub-1", "--resource-group", "rg-1")
    found = _permissions(tmp_path, capsys, {**AZURE, "prefix": PREFIX}, *flags)
    assert set(found) == {
        "integration", "provider", "account", "container", "prefixes", "role_assignment",
        "commands", "notes",
    }  # fmt: skip
    assignment = found["role_assignment"]
    assert set(assignment) == {
        "role", "roleDefinitionId", "principalId", "scope", "condition", "conditionVersion"
    }  # fmt: skip
    assert assignment["role"] == "Storage Blob Data Contributor"
    assert assignment["roleDefinitionId"] == "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    assert assignment["scope"] == (
        "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Storage/storageAccounts/"
        "acme/blobServices/default/containers/logs"
    )
    condition = assignment["condition"]
    assert f"@Resource[{BLOBS}:path] StringStartsWith '{PREFIX}/'" in condition
    assert f"@Request[{BLOBS}:prefix] StringStartsWith '{PREFIX}/'" in condition
    for action in ("read", "write", "add/action", "delete", "move/action"):
        assert f"ActionMatches{{'{BLOBS}/{action}'}}" in condition
    assert assignment["conditionVersion"] == "2.0"
    assert found["commands"][0].startswith("az role assignment create")


def test_azure_account_from_the_connection_string(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv(
        "PRISM_TEST_AZ", "AccountName=fromconn;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net"
    )
    integration = {
        "provider": "azure",
        "container": "logs",
        "connection_string": {"env": "PRISM_TEST_AZ"},
    }
    found = _permissions(tmp_path, capsys, integration)
    assert found["account"] == "fromconn"
    assert "c2VjcmV0" not in json.dumps(found)  # the key is never printed
    assert "'logs/'" in found["role_assignment"]["condition"]  # no prefix: the plugin's folders
    assert any("bypasses Azure RBAC" in note for note in found["notes"])


def test_gcs_bindings_condition_objects_and_list_on_the_bucket(tmp_path, capsys) -> None:
    found = _permissions(tmp_path, capsys, {**GCS, "prefix": PREFIX})
    assert set(found) == {
        "integration", "provider", "bucket", "prefixes", "bindings", "custom_roles", "commands",
        "notes",
    }  # fmt: skip
    objects, listing = found["bindings"]
    assert objects["role"] == "roles/storage.objectUser"
    assert objects["condition"]["expression"] == (
        f'resource.name.startsWith("projects/_/buckets/acme-gcs/objects/{PREFIX}/")'
    )
    assert listing == {
        "role": "projects/acme/roles/prismObjectLister",
        "members": ["serviceAccount:<service-account-email>"],
    }
    assert found["custom_roles"][0]["permissions"] == ["storage.objects.list"]


def test_gcs_cmek_grants_the_service_agent_only_with_a_key(tmp_path, capsys) -> None:
    key = "projects/acme/locations/eu/keyRings/r/cryptoKeys/k"
    found = _permissions(tmp_path, capsys, {**GCS, "kms_key_name": key}, "--project-number", "42")
    assert found["kms"] == {
        "key": key,
        "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        "members": ["serviceAccount:service-42@gs-project-accounts.iam.gserviceaccount.com"],
    }
    assert f"--authorize-cmek={key}" in found["commands"][-1]
    assert "kms" not in _permissions(tmp_path, capsys, GCS)


def test_local_is_a_note(tmp_path, capsys) -> None:
    found = _permissions(tmp_path, capsys, {"provider": "local", "path": str(tmp_path)})
    assert set(found) == {"integration", "provider", "path", "prefixes", "notes"}


def test_yaml_output_holds_the_same(tmp_path, capsys) -> None:
    as_json = _permissions(tmp_path, capsys, {**AZURE, "prefix": PREFIX})
    assert (
        _permissions(tmp_path, capsys, {**AZURE, "prefix": PREFIX}, "--format", "yaml") == as_json
    )


def test_unknown_name_is_the_usual_error(tmp_path, capsys) -> None:
    code = main(["permissions", "nope", "--config", str(_config(tmp_path, S3))])
    assert code == 2 and "no integration named 'nope'" in capsys.readouterr().err


# --- on moto, IAM enforced: the printed S3 policy is accepted and is enough -----------------


@pytest.fixture(scope="module")
def moto() -> Iterator[IamMoto]:
    with iam_moto() as server:
        yield server


@pytest.fixture
def archiver(moto: IamMoto, tmp_path: Path, capsys, monkeypatch) -> dict[str, Any]:
    """A bucket, and a user holding only the policy ``permissions`` prints for it."""
    bucket = new_name()
    moto.client("s3").create_bucket(Bucket=bucket)
    integration = {
        **S3, "bucket": bucket, "region": "us-east-1", "endpoint_url": moto.endpoint_url,
        "prefix": PREFIX, "access_key_id": {"env": "TEST_AWS_KEY_ID"},
        "secret_access_key": {"env": "TEST_AWS_SECRET"},
    }  # fmt: skip
    policy = _permissions(tmp_path, capsys, integration)["policy"]
    keys = moto.user_with_policy(new_name(), policy)  # create_policy: moto's IAM validates it
    monkeypatch.setenv("TEST_AWS_KEY_ID", keys[0])
    monkeypatch.setenv("TEST_AWS_SECRET", keys[1])
    config = yaml.safe_load((tmp_path / "prism.yaml").read_text())
    return {"bucket": bucket, "keys": keys, "config": config, "path": tmp_path / "prism.yaml"}


def test_s3_user_with_only_the_policy_archives_an_hour(moto, archiver, spool) -> None:
    archiver["config"]["source"]["path"] = str(spool)
    simulate(spool, H, H + layout.ONE_HOUR, rate=200, seed=3)
    assert materialise(archiver["config"], H).success
    stored = moto.client("s3").list_objects_v2(Bucket=archiver["bucket"])["Contents"]
    keys = [item["Key"] for item in stored]
    assert layout.manifest_key(PREFIX, H) in keys
    assert all(key.startswith(f"{PREFIX}/logs/") for key in keys)


@pytest.mark.parametrize("key", ["elsewhere/x.json", f"{PREFIX}-other/x.json", "x.json"])
def test_s3_user_cannot_write_outside_its_prefix(moto, archiver, key) -> None:
    with pytest.raises(ClientError, match="AccessDenied"):
        moto.client("s3", archiver["keys"]).put_object(Bucket=archiver["bucket"], Key=key, Body=b"")


def test_s3_user_can_clean_up_a_crashed_writers_upload(moto, archiver) -> None:
    key = f"{PREFIX}/logs/2026/03/31/hour=14/batch_000000000000.jsonl.gz"
    s3 = moto.client("s3", archiver["keys"])
    s3.create_multipart_upload(Bucket=archiver["bucket"], Key=key)
    dest = live(parse_config(archiver["config"]).integrations[0].destination())
    later = datetime.now(UTC) + timedelta(hours=1)
    assert dest.remove_incomplete(key.rsplit("/", 1)[0] + "/", later) == [key]  # list, then abort


def test_s3_validate_passes_with_only_the_policy(archiver, capsys) -> None:
    assert main(["validate", "prod", "--config", str(archiver["path"])]) == 0
    out = capsys.readouterr().out
    assert "WARN" not in out and out.strip().endswith("result: OK")


def test_s3_kms_policy_is_accepted_by_iam(moto, tmp_path, capsys) -> None:
    for kms_key_id in (KEY_ARN, "alias/prism"):
        found = _permissions(tmp_path, capsys, {**S3, "sse": "aws:kms", "kms_key_id": kms_key_id})
        assert moto.create_policy(new_name(), found["policy"]).startswith("arn:aws:iam::")


def test_s3_kms_key_the_identity_may_not_use_fails_as_permission_naming_it(
    moto, archiver, monkeypatch, capsys
) -> None:
    # The user holds only the policy printed for the integration without sse: no KMS grant.
    # (moto authorises KMS calls against resource "*", so a grant scoped to one key ARN
    # cannot be shown working there; a missing grant is refused as on AWS.)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", moto.endpoint_url)
    key = moto.client("kms").create_key()["KeyMetadata"]["Arn"]
    config = archiver["config"]
    config["integrations"][0].update({"sse": "aws:kms", "kms_key_id": key})
    archiver["path"].write_text(yaml.safe_dump(config))
    assert main(["validate", "prod", "--config", str(archiver["path"])]) == 1
    out = capsys.readouterr().out
    assert f"using KMS key {key!r} failed: encryption key missing or denied" in out
    listed = moto.client("s3").list_objects_v2(Bucket=archiver["bucket"], Prefix=PREFIX)
    assert "Contents" not in listed  # refused before anything was written
