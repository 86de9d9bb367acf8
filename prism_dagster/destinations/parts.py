"""Upload in parts: the bounded-memory sink that S3 multipart and Azure staged blocks share."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from prism_dagster.destinations.base import ObjectSink, best_effort

Runner = Callable[[Callable[[], object]], object]


class PartSink(ObjectSink):
    """Buffers at most one part; small objects go up in one request, large ones in parts.

    Nothing is visible under the key until ``finish`` (one PUT, or the part list committed),
    so a crash mid-upload never leaves a truncated object behind.
    """

    def __init__(self, part_size: int, run: Runner) -> None:
        self._part_size = part_size
        self._run = run  # every SDK call goes through it: retries and error translation
        self._buffer = bytearray()
        self.parts = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= self._part_size:
            part = bytes(self._buffer[: self._part_size])
            del self._buffer[: self._part_size]
            self.parts += 1
            self._run(partial(self._upload_part, self.parts, part))

    def finish(self) -> None:
        """Make the object visible: one PUT if it fits in a part, else commit the parts."""
        data = bytes(self._buffer)
        self._buffer.clear()
        if not self.parts:
            self._run(partial(self._put_whole, data))
            return
        if data:
            self.parts += 1
            self._run(partial(self._upload_part, self.parts, data))
        self._run(self._complete)

    def abort(self) -> None:
        """Discard uploaded parts (best effort: stores also expire them on their own)."""
        self._buffer.clear()
        if self.parts:
            self._run(self._abort)

    @abstractmethod
    def _put_whole(self, data: bytes) -> None: ...

    @abstractmethod
    def _upload_part(self, number: int, data: bytes) -> None: ...

    @abstractmethod
    def _complete(self) -> None: ...

    @abstractmethod
    def _abort(self) -> None: ...


@contextmanager
def streamed(sink: PartSink) -> Iterator[ObjectSink]:
    """Yield ``sink`` for writing; publish it on a clean exit, discard its parts on error."""
    try:
        yield sink
        sink.finish()
    except BaseException:
        best_effort(sink.abort)
        raise
