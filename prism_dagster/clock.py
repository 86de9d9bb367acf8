"""The current time, in one place, so schedules, sensors and tests agree on "now"."""

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)
