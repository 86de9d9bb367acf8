"""The least-privilege IAM policy for an S3 integration, from the calls the plugin makes.

destinations/s3.py calls put_object (also with IfNoneMatch), create_multipart_upload,
upload_part, complete_multipart_upload (all s3:PutObject), abort_multipart_upload
(s3:AbortMultipartUpload), get_object (s3:GetObject), delete_object (s3:DeleteObject),
list_objects_v2 (s3:ListBucket) and list_multipart_uploads (s3:ListBucketMultipartUploads);
``validate`` makes the same calls. Nothing else is granted.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from prism_dagster.access.common import Placeholders, roots, unset_env
from prism_dagster.config.fields import shown
from prism_dagster.config.integrations import S3Integration

OBJECT_ACTIONS = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
KMS_ACTIONS = ["kms:GenerateDataKey", "kms:Decrypt"]


def s3_permissions(integration: S3Integration, where: Placeholders) -> dict[str, Any]:
    """The IAM policy document, the aws commands that create and attach it, and notes."""
    bucket = shown(integration.bucket) or ""
    region = shown(integration.region) or ""
    keys = roots(integration.prefix)
    bucket_arn = f"arn:aws:s3:::{bucket}"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ArchiveObjects",
            "Effect": "Allow",
            "Action": OBJECT_ACTIONS,
            "Resource": [f"{bucket_arn}/{key}*" for key in keys],
        },
        {
            "Sid": "ListArchivePrefix",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
            "Condition": {"StringLike": {"s3:prefix": [f"{key}*" for key in keys]}},
        },
        {
            # No s3:prefix condition exists for this action: it lists the bucket's unfinished
            # uploads (keys only), so a crashed writer's parts can be aborted.
            "Sid": "FindUnfinishedUploads",
            "Effect": "Allow",
            "Action": ["s3:ListBucketMultipartUploads"],
            "Resource": [bucket_arn],
        },
    ]
    notes = unset_env(integration.bucket, integration.region, integration.kms_key_id)
    if integration.sse == "aws:kms" and integration.kms_key_id is not None:
        key = shown(integration.kms_key_id) or ""
        statement, note = _kms_statement(key, region, where.account_id)
        statements.append(statement)
        notes += [note] if note else []
    elif integration.sse == "aws:kms":
        notes.append("sse aws:kms without kms_key_id uses the AWS managed key aws/s3: no KMS grant")
    policy = {"Version": "2012-10-17", "Statement": statements}
    name = f"prism-archive-{integration.name}"
    document = json.dumps(policy, separators=(",", ":"))
    policy_arn = f"arn:aws:iam::{where.account_id}:policy/{name}"
    commands = [
        shlex.join(
            ["aws", "iam", "create-policy", "--policy-name", name, "--policy-document", document]
        ),
        shlex.join(
            [
                "aws",
                "iam",
                "attach-role-policy",
                "--role-name",
                "<role>",
                "--policy-arn",
                policy_arn,
            ]
        ),
    ]
    if integration.endpoint_url is not None:
        notes.append("endpoint_url is set: S3-compatible stores apply IAM policies their own way")
    return {
        "integration": integration.name,
        "provider": "s3",
        "bucket": bucket,
        "prefixes": keys,
        "policy": policy,
        "commands": commands,
        "notes": notes,
    }


def _kms_statement(key: str, region: str, account: str) -> tuple[dict[str, Any], str]:
    """kms:GenerateDataKey (writes) and kms:Decrypt (reads, multipart parts) on the key.

    Not limited to ``kms:ViaService`` S3: the destination asks KMS for a data key itself, once
    per run and in ``validate``, so a wrong or denied key fails early and named.
    """
    conditions: dict[str, Any] = {}
    note = ""
    if key.startswith("arn:"):
        partition, key_region, key_account, resource = _arn_parts(key)
    else:
        resource = key if key.startswith("alias/") else f"key/{key}"
        partition, key_region, key_account = "aws", region, account
        note = f"kms_key_id {key!r} is not an ARN: built one from region {region!r}"
        note += "" if account.isdigit() else f" and {account} (pass --account-id)"
    if resource.startswith("alias/"):
        # IAM matches key operations against the key's ARN, never an alias ARN: any key in
        # the account and region, but only while it carries this alias.
        conditions["ForAnyValue:StringEquals"] = {"kms:ResourceAliases": resource}
        resource = "key/*"
        note = (note + "; " if note else "") + "an alias: granted on the key it names, by alias"
    statement = {
        "Sid": "EncryptWithKmsKey",
        "Effect": "Allow",
        "Action": KMS_ACTIONS,
        "Resource": [f"arn:{partition}:kms:{key_region}:{key_account}:{resource}"],
        **({"Condition": conditions} if conditions else {}),
    }
    return statement, note


def _arn_parts(arn: str) -> tuple[str, str, str, str]:
    """(partition, region, account, resource) of ``arn:PARTITION:kms:REGION:ACCOUNT:RESOURCE``."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return "aws", "", "", arn
    return parts[1], parts[3], parts[4], parts[5]
