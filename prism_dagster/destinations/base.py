"""The interface every destination (local folder, S3, Azure Blob, GCS) implements."""

from __future__ import annotations

import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from contextvars import ContextVar
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, TypeVar

import dagster as dg
from pydantic import Field

from prism_dagster.destinations.settings import DestinationSettings
from prism_dagster.errors import DestinationError, FailureCause, redact

T = TypeVar("T")
_log = logging.getLogger("prism_dagster")
#: True while ``best_effort`` runs a clean-up after a failure: its requests then get the
#: short clean-up budget, not a whole one each, since the store may be what failed.
_cleaning_up: ContextVar[bool] = ContextVar("prism_cleaning_up", default=False)


class ObjectKind(StrEnum):
    """What an object holds; decides its Content-Type and Content-Encoding."""

    GZIP_JSONL = "gzip_jsonl"  # batch files and rejects
    JSON = "json"  # manifests


class ObjectSink(ABC):
    """An object being written: bytes go in with ``write``; it appears whole or not at all."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Append ``data`` to the object."""


class Destination(dg.ConfigurableResource, ABC):
    """An object store the archive is written to. Keys are ``/``-separated, no leading ``/``."""

    integration: str = Field(default="", description="Integration name, for error messages.")
    settings: DestinationSettings = Field(default_factory=DestinationSettings)

    provider: ClassVar[str] = "destination"  # each provider names itself, for messages

    def content_headers(self, kind: ObjectKind) -> tuple[str, str | None]:
        """(Content-Type, Content-Encoding) for an object of ``kind``."""
        if kind is ObjectKind.JSON:
            return "application/json", None
        if self.settings.gzip_content_encoding:
            return "application/x-ndjson", "gzip"
        return "application/gzip", None

    @abstractmethod
    def open_object(self, key: str, kind: ObjectKind) -> AbstractContextManager[ObjectSink]:
        """Stream an object: committed when the block exits cleanly, discarded on error."""

    def create_if_absent(self, key: str, data: bytes) -> bool:
        """Write a small JSON object only if ``key`` does not exist yet, atomically.

        True if this call created it, False if the key already existed (whoever wrote it).
        """

        def create() -> bool:
            try:
                self._put_if_absent(key, data)
            except Exception as exc:
                if self._already_exists(exc):
                    return False
                raise
            return True

        return self.run(f"creating {self.uri(key)}", create)

    @abstractmethod
    def _put_if_absent(self, key: str, data: bytes) -> None:
        """One conditional create of a JSON object; the store refuses it if ``key`` exists."""

    @abstractmethod
    def _already_exists(self, exc: Exception) -> bool:
        """Whether ``exc`` is the store refusing a conditional create: the key exists."""

    def remove_incomplete(self, prefix: str, begun_before: datetime) -> list[str]:
        """Discard uploads directly in the folder ``prefix`` (ending in ``/``; not in folders
        below it) that never completed and began before ``begun_before``.

        Returns what was discarded. Stores that expire unfinished uploads on their own
        (Azure's uncommitted blocks, GCS resumable sessions: both after 7 days) keep this no-op.
        """
        return []

    def put_object(self, key: str, data: bytes, kind: ObjectKind) -> None:
        """Write a small object in one go."""
        with self.open_object(key, kind) as sink:
            sink.write(data)

    @abstractmethod
    def get_object(self, key: str) -> bytes:
        """The stored bytes of ``key``, exactly as written (never decompressed)."""

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Every committed key starting with ``prefix``, sorted."""

    @abstractmethod
    def delete_object(self, key: str) -> None:
        """Remove ``key``; removing a key that does not exist is not an error."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """A URI an operator can paste into a console, e.g. ``s3://bucket/key``."""

    def exists(self, key: str) -> bool:
        """Whether ``key`` is committed."""
        return key in self.list_keys(key)

    def target(self) -> str:
        """The bucket or container, e.g. ``bucket 'logs'``, for messages."""
        return self.uri("")

    def secret_values(self) -> list[str]:
        """Resolved secret values this destination holds, to scrub from any message."""
        return []

    def translate(self, exc: Exception, action: str) -> DestinationError:
        """An SDK exception as a classified DestinationError (providers know their SDK)."""
        return self.error(action, FailureCause.UNKNOWN, f"{type(exc).__name__}: {exc}", "")

    def run(self, action: str, call: Callable[[], T]) -> T:
        """One SDK request, retried while its failure is transient (5xx, throttling, network).

        Exponential backoff with full jitter until ``give_up_after_s`` has passed (or
        ``attempts`` were made): the last wait is cut to end at the deadline, so an
        outage shorter than the limit is ridden through. SDKs' own retries are off, so this
        is the one policy, on every provider. Permanent failures (denied, missing, bad key)
        raise at once. Within ``best_effort`` (clean-up after a failure) the budget is
        ``RetryPolicy.for_cleanup``'s.
        """
        cleaning_up = _cleaning_up.get()
        policy = self.settings.retry.for_cleanup() if cleaning_up else self.settings.retry
        started = time.monotonic()
        deadline = started + policy.give_up_after_s
        for attempt in range(1, policy.attempts + 1):
            try:
                return call()
            except DestinationError:
                raise
            except Exception as exc:
                error = self.translate(exc, action)
                if not error.transient:
                    # "from None": the SDK's exception may quote credentials; ours is scrubbed.
                    raise error from None
                ceiling = min(policy.max_backoff_s, policy.initial_backoff_s * 2 ** (attempt - 1))
                left = deadline - time.monotonic()
                if attempt == policy.attempts or left <= 0:
                    spent = time.monotonic() - started
                    if cleaning_up:  # the failure being cleaned up after is the one to read
                        _log.warning(f"{error} Left for the next run after {attempt} attempt(s).")
                    else:
                        _log.error(f"{error} Giving up after {attempt} attempt(s) in {spent:.0f}s.")
                    raise error.gave_up(attempt, spent) from None
                delay = min(random.uniform(0, ceiling), left)
                _log.warning(
                    f"{error} Retry {attempt} of at most {policy.attempts - 1} in "
                    f"{delay:.1f}s (retrying for up to {policy.give_up_after_s:.0f}s)."
                )
                time.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def error(
        self, action: str, cause: FailureCause, detail: str, fix: str, transient: bool = False
    ) -> DestinationError:
        """A secret-free error naming integration, provider, target, what failed and the fix."""
        who = f"integration {self.integration!r}" if self.integration else "destination"
        message = f"{who} ({self.provider} {self.target()}): {action} failed: {cause.value}"
        message += f" ({detail}). {fix}" if detail else f". {fix}"
        error = DestinationError(redact(message, self.secret_values()), cause, transient)
        error.detail = redact(detail, self.secret_values())
        return error


def best_effort(action: Callable[[], object]) -> None:
    """Run a clean-up step after a failure without letting it hide the failure itself.

    Its requests are tried on the short clean-up budget (``RetryPolicy.for_cleanup``): a run
    gives up within its own budget, and the next run finishes what is left.
    """
    cleaning_up = _cleaning_up.set(True)
    try:
        with suppress(Exception):
            action()
    finally:
        _cleaning_up.reset(cleaning_up)
