"""Writing one Azure blob: a single Put Blob, or staged blocks committed as a block list."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from prism_dagster.destinations.base import ObjectKind
from prism_dagster.destinations.parts import PartSink

if TYPE_CHECKING:
    from prism_dagster.destinations.azure import AzureDestination


def _block_id(number: int) -> str:
    # Block ids must be base64 and all the same length within a blob.
    return base64.b64encode(f"{number:08d}".encode()).decode()


class AzureSink(PartSink):
    """Put Blob, or staged blocks and a block list, every request with its Content-MD5."""

    def __init__(self, dest: AzureDestination, key: str, kind: ObjectKind) -> None:
        super().__init__(
            dest.settings.part_size, lambda call: dest.run(f"writing {dest.uri(key)}", call)
        )
        from azure.storage.blob import ContentSettings

        self._blob = dest.container_client().get_blob_client(key)
        content_type, encoding = dest.content_headers(kind)
        self._settings = ContentSettings(content_type=content_type, content_encoding=encoding)
        self._blocks: list[str] = []
        self._encryption = dest.encryption()

    def _put_whole(self, data: bytes) -> None:
        # validate_content: Content-MD5 on the request; the service refuses other bytes.
        self._blob.upload_blob(
            data,
            overwrite=True,
            content_settings=self._settings,
            validate_content=True,
            **self._encryption,
        )

    def _upload_part(self, number: int, data: bytes) -> None:
        self._blob.stage_block(_block_id(number), data, validate_content=True, **self._encryption)
        if _block_id(number) not in self._blocks:
            self._blocks.append(_block_id(number))

    def _complete(self) -> None:
        from azure.storage.blob import BlobBlock

        blocks = [BlobBlock(block_id=b) for b in self._blocks]
        self._blob.commit_block_list(blocks, content_settings=self._settings, **self._encryption)

    def _abort(self) -> None:
        """Uncommitted blocks are discarded by the service after a week; nothing to undo."""
