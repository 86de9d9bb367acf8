"""Amazon S3 (and S3-compatible stores such as MinIO or R2), on ``dagster_aws.s3.S3Resource``."""

from __future__ import annotations

import os
import re
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, ClassVar

from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from prism_dagster.destinations.base import Destination, ObjectKind, ObjectSink
from prism_dagster.destinations.integrity import CHECKSUM_FIX, md5_hex
from prism_dagster.destinations.parts import streamed
from prism_dagster.destinations.s3_codes import CODES, KEY_FIX
from prism_dagster.destinations.s3_sink import S3Sink, checksum_args
from prism_dagster.errors import DestinationError, FailureCause

_MD5_SHAPE = re.compile(r"[0-9a-f]{32}")  # a multipart ETag ("…-N") is no MD5 of its bytes


class S3Destination(Destination):
    """An S3 bucket. Credentials: keys from env vars, else the standard AWS chain."""

    bucket: str = Field(description="Bucket name (already created).")
    s3: S3Resource = Field(description="Region, endpoint and credentials (dagster_aws).")
    sse: str | None = Field(default=None, description="Server-side encryption: AES256 or aws:kms.")
    kms_key_id: str | None = Field(default=None, description="KMS key for sse aws:kms.")
    bucket_key: bool = Field(default=True, description="S3 Bucket Key with sse aws:kms.")
    check_etag: bool = Field(
        default=True, description="Also check that a plain upload's ETag is its bytes' MD5."
    )
    provider: ClassVar[str] = "s3"
    _client: Any = PrivateAttr(default=None)
    _key_checked: bool = PrivateAttr(default=False)
    _session_made: Any = PrivateAttr(default=None)

    def encryption(self) -> dict[str, Any]:
        """The server-side encryption arguments of every object write."""
        if self.sse is None:
            return {}
        args: dict[str, Any] = {"ServerSideEncryption": self.sse}
        if self.sse == "aws:kms":
            args["BucketKeyEnabled"] = self.bucket_key
            if self.kms_key_id:
                args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def check_received(
        self, response: dict[str, Any], data: bytes, what: str, delete: bool = False
    ) -> None:
        """Refuse an upload whose ETag shows the store got other bytes than were sent.

        S3 verifies the SHA-256 we send; this second check uses the ETag, which is the MD5 of
        what a plain or SSE-S3 upload received. Stores that ignore the checksum header (moto,
        some S3-compatibles) are caught here. Skipped where S3's ETag is no MD5: SSE-KMS or
        DSSE-KMS (asked for, or the bucket's default, as the response says), SSE-C, S3 Express
        directory buckets, and wherever ``check_etag`` is off.
        """
        etag = str(response.get("ETag", "")).strip('"')
        if (
            not self.check_etag
            or str(response.get("ServerSideEncryption", "")).startswith("aws:kms")
            or response.get("SSECustomerAlgorithm")
            or self.bucket.endswith("--x-s3")
            or not _MD5_SHAPE.fullmatch(etag)
            or etag == md5_hex(data)
        ):
            return
        if delete:  # a single PUT is already visible; it must not stay under its key
            self.client().delete_object(Bucket=self.bucket, Key=what)
        raise self.error(
            f"writing {self.uri(what)}",
            FailureCause.CHECKSUM_MISMATCH,
            f"ETag {etag} is not the MD5 {md5_hex(data)} of the bytes sent",
            CHECKSUM_FIX,
        )

    def check_key(self) -> None:
        """Ask KMS for a data key with ``kms_key_id``, as S3 will: a wrong or denied key fails
        here, named, before any object is written (once per destination).

        Skipped for an S3-compatible store (``endpoint_url``) unless a KMS endpoint is set
        (``AWS_ENDPOINT_URL_KMS``): its keys are not AWS KMS keys.
        """
        if self._key_checked or self.sse != "aws:kms" or not self.kms_key_id:
            return
        kms_endpoint = os.environ.get("AWS_ENDPOINT_URL_KMS") or os.environ.get("AWS_ENDPOINT_URL")
        if self.s3.endpoint_url and not kms_endpoint:
            return
        kms = self._session().client("kms", region_name=self.s3.region_name, config=self._config())
        action = f"using KMS key {self.kms_key_id!r}"
        try:
            self.run(
                action, lambda: kms.generate_data_key(KeyId=self.kms_key_id, KeySpec="AES_256")
            )
        except DestinationError as exc:
            if exc.cause not in (FailureCause.KEY_DENIED, FailureCause.ACCESS_DENIED):
                raise  # credentials, network, throttling: not the key's fault
            # Missing, disabled or not ours to use: S3 would refuse every write the same way.
            raise self.error(action, FailureCause.KEY_DENIED, exc.detail, KEY_FIX) from None
        self._key_checked = True

    def client(self) -> Any:
        """The boto3 client, built from the nested S3Resource's region, endpoint and keys."""
        if self._client is not None:
            return self._client

        def create() -> Any:
            s3 = self.s3
            return self._session().client(
                "s3",
                region_name=s3.region_name,
                endpoint_url=s3.endpoint_url,
                config=self._config(),
            )

        client = self.run("creating the S3 client", create)
        self.check_key()  # before the client is kept: a failed check is tried again
        self._client = client
        return self._client

    def _session(self) -> Any:
        """One boto3 session for S3 and KMS: keyless credentials are fetched once, not twice."""
        if self._session_made is None:
            import boto3

            s3 = self.s3
            # Without keys: the standard chain (env, web identity as IRSA uses, profile, role).
            self._session_made = boto3.session.Session(
                profile_name=s3.profile_name,
                aws_access_key_id=s3.aws_access_key_id,
                aws_secret_access_key=s3.aws_secret_access_key,
                aws_session_token=s3.aws_session_token,
            )
        return self._session_made

    def _config(self) -> Any:
        from botocore.config import Config

        return Config(
            retries={"total_max_attempts": 1},  # Destination.run owns retrying
            connect_timeout=self.settings.retry.request_timeout_s,
            read_timeout=self.settings.retry.request_timeout_s,
        )

    def target(self) -> str:
        return f"bucket {self.bucket!r}"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def secret_values(self) -> list[str]:
        return [v for v in (self.s3.aws_secret_access_key, self.s3.aws_session_token) if v]

    def translate(self, exc: Exception, action: str) -> DestinationError:
        """An SDK exception as a DestinationError with a cause, a fix and whether to retry."""
        from botocore.exceptions import (
            ClientError,
            HTTPClientError,
            NoCredentialsError,
            PartialCredentialsError,
            ProfileNotFound,
        )
        from botocore.exceptions import ConnectionError as BotoConnectionError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            cause, fix = CODES.get(code, (FailureCause.UNKNOWN, "See the error code."))
            if cause is FailureCause.KEY_DENIED:
                key = self.kms_key_id or ("aws/s3" if self.sse == "aws:kms" else None)
                action += f" with KMS key {key!r}" if key else " with the bucket's default KMS key"
            if cause is FailureCause.UNKNOWN and status == 403:
                cause, fix = CODES["AccessDenied"]
            if (
                cause is FailureCause.UNKNOWN
                and code in ("404", "NotFound")
                and not action.startswith("reading")
            ):
                cause, fix = CODES["NoSuchBucket"]
            transient = status >= 500 or status == 429 or cause is FailureCause.THROTTLED
            transient = transient or code == "RequestTimeout"
            if transient and cause is FailureCause.UNKNOWN:
                # 429 and 503 ask us to slow down; any other 5xx is the store failing.
                cause, fix = CODES["SlowDown"] if status in (429, 503) else CODES["InternalError"]
            return self.error(action, cause, f"{code or status}: {exc}", fix, transient)
        if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
            fix = "Set access_key_id/secret_access_key or configure an AWS role or profile."
            return self.error(action, FailureCause.INVALID_CREDENTIALS, str(exc), fix)
        if isinstance(exc, BotoConnectionError | HTTPClientError):  # refused, DNS, timeouts
            fix = "Check endpoint_url, the region and network access to S3."
            return self.error(action, FailureCause.UNREACHABLE, str(exc), fix, transient=True)
        return super().translate(exc, action)

    def open_object(self, key: str, kind: ObjectKind) -> AbstractContextManager[ObjectSink]:
        return streamed(S3Sink(self, key, kind))

    def _put_if_absent(self, key: str, data: bytes) -> None:
        sent = self.client().put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType="application/json",
            IfNoneMatch="*",
            **checksum_args(data),
            **self.encryption(),
        )
        self.check_received(sent, data, key, delete=True)

    def _already_exists(self, exc: Exception) -> bool:
        # 412: the key exists; 409 ConditionalRequestConflict: a concurrent create won.
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status in (409, 412)

    def remove_incomplete(self, prefix: str, begun_before: datetime) -> list[str]:
        def sweep() -> list[str]:
            client, removed = self.client(), []
            pages = client.get_paginator("list_multipart_uploads")
            for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    # Directly in the folder only: one below it is not this hour's.
                    inside = "/" not in upload["Key"][len(prefix) :]
                    if inside and upload["Initiated"] < begun_before:
                        client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        removed.append(upload["Key"])
            return sorted(removed)

        return self.run(f"aborting unfinished uploads under {self.uri(prefix)}", sweep)

    def get_object(self, key: str) -> bytes:
        def read() -> bytes:
            return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

        return self.run(f"reading {self.uri(key)}", read)

    def list_keys(self, prefix: str) -> list[str]:
        def listing() -> list[str]:
            pages = self.client().get_paginator("list_objects_v2")
            found = pages.paginate(Bucket=self.bucket, Prefix=prefix)
            return sorted(item["Key"] for page in found for item in page.get("Contents", []))

        return self.run(f"listing {self.uri(prefix)}", listing)

    def delete_object(self, key: str) -> None:
        self.run(
            f"deleting {self.uri(key)}",
            lambda: self.client().delete_object(Bucket=self.bucket, Key=key),
        )
