"""Writing one S3 object: a single PUT, or a multipart upload, with checksums on every part."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prism_dagster.destinations.base import ObjectKind
from prism_dagster.destinations.integrity import sha256_b64
from prism_dagster.destinations.parts import PartSink

if TYPE_CHECKING:
    from prism_dagster.destinations.s3 import S3Destination


class S3Sink(PartSink):
    """Single PUTs and multipart uploads, every request with its bytes' SHA-256."""

    def __init__(self, dest: S3Destination, key: str, kind: ObjectKind) -> None:
        super().__init__(
            dest.settings.part_size, lambda call: dest.run(f"writing {dest.uri(key)}", call)
        )
        self._dest, self._client, self._bucket, self._key = dest, dest.client(), dest.bucket, key
        content_type, encoding = dest.content_headers(kind)
        self._extra: dict[str, Any] = {"ContentType": content_type, **dest.encryption()}
        if encoding:
            self._extra["ContentEncoding"] = encoding
        self._upload_id: str | None = None
        self._etags: list[dict[str, Any]] = []

    def _put_whole(self, data: bytes) -> None:
        sent = self._client.put_object(
            Bucket=self._bucket, Key=self._key, Body=data, **checksum_args(data), **self._extra
        )
        self._dest.check_received(sent, data, self._key, delete=True)

    def _upload_part(self, number: int, data: bytes) -> None:
        if self._upload_id is None:
            created = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ChecksumAlgorithm="SHA256", **self._extra
            )
            self._upload_id = created["UploadId"]
        checksum = checksum_args(data)
        done = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data,
            **checksum,
        )
        self._dest.check_received(done, data, f"{self._key} part {number}")
        part = {"PartNumber": number, "ETag": done["ETag"]}
        self._etags.append({**part, "ChecksumSHA256": checksum["ChecksumSHA256"]})

    def _complete(self) -> None:
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._etags},
        )

    def _abort(self) -> None:
        if self._upload_id is not None:
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
            )


def checksum_args(data: bytes) -> dict[str, str]:
    """The checksum arguments of every S3 upload request."""
    # The algorithm header too: buckets with Object Lock require it (or Content-MD5).
    return {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": sha256_b64(data)}
