"""moto with IAM enforced: an admin for set-up, users and roles that hold one policy each.

moto checks each request's signature and the caller's IAM policies (Action and Resource) once
auth is on. It does not evaluate most Conditions: ``StringLike`` (the S3 ``s3:prefix`` on
ListBucket) and ``ForAnyValue:*`` are ignored, and S3 requests carry no condition context, so
a policy's conditions are not proven on moto, only its actions and resources.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import requests

from prism_dagster_tests.support.moto import moto_server

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
_ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass(frozen=True)
class IamMoto:
    """A moto server enforcing IAM, and an admin's keys to set things up on it."""

    endpoint_url: str
    admin: tuple[str, str]

    def client(self, service: str, keys: tuple[str, str] | None = None) -> Any:
        """A boto3 client signed with ``keys`` (default: the admin's)."""
        key_id, secret = keys or self.admin
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    def enforce(self, free_requests: int = 0) -> None:
        """Check the signature and policies of every request after the next ``free_requests``."""
        reply = requests.post(f"{self.endpoint_url}/moto-api/reset-auth", data=str(free_requests))
        reply.raise_for_status()

    def create_policy(self, name: str, document: dict[str, Any]) -> str:
        """A managed policy holding ``document`` (IAM validates it); its ARN."""
        created = self.client("iam").create_policy(
            PolicyName=name, PolicyDocument=json.dumps(document)
        )
        return created["Policy"]["Arn"]

    def user_with_policy(self, name: str, document: dict[str, Any]) -> tuple[str, str]:
        """An IAM user holding only ``document``; its access key id and secret."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        iam.attach_user_policy(UserName=name, PolicyArn=self.create_policy(name, document))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def role_with_policy(self, name: str, document: dict[str, Any] | None) -> str:
        """A role web identities may assume, holding only ``document`` (or nothing); its ARN."""
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.test"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                }
            ],
        }
        iam = self.client("iam")
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        if document is not None:
            iam.attach_role_policy(RoleName=name, PolicyArn=self.create_policy(name, document))
        return role["Role"]["Arn"]


@contextmanager
def iam_moto() -> Iterator[IamMoto]:
    """moto with an admin user, then auth on: every later request must be signed and allowed."""
    with moto_server() as server:  # auth off until enforce(): the admin is made unsigned
        iam = boto3.client(
            "iam",
            endpoint_url=server.endpoint_url,
            region_name=REGION,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="admin")
        iam.put_user_policy(
            UserName="admin", PolicyName="all", PolicyDocument=json.dumps(_ALLOW_ALL)
        )
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        moto = IamMoto(server.endpoint_url, (key["AccessKeyId"], key["SecretAccessKey"]))
        moto.enforce()
        yield moto
