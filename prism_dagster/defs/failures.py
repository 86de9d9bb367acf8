"""Our errors as ``dg.Failure``: the run's failure reads as the operator's message first, and
the cause travels as metadata for the status sensors (``lifecycle.causes``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from prism_dagster.errors import PrismError
from prism_dagster.names import CAUSE_METADATA_KEY


@contextmanager
def reported_as_failure() -> Iterator[None]:
    """Re-raise a ``PrismError`` as a ``dg.Failure`` carrying its cause."""
    try:
        yield
    except PrismError as exc:
        # "from None": Dagster shows the description first, not a wrapper and a stack trace.
        raise dg.Failure(
            description=str(exc),
            metadata={CAUSE_METADATA_KEY: exc.cause.value, "category": exc.cause.category},
        ) from None
