"""Specific exceptions, each telling the operator what to fix."""

from __future__ import annotations


class PrismError(Exception):
    """Base class for every error prism_dagster raises on purpose."""


class ConfigError(PrismError):
    """prism.yaml is missing, unreadable or invalid."""


class BadRecordsError(PrismError):
    """The source held records that could not be archived and the policy says fail."""


class DestinationError(PrismError):
    """A destination could not be written, read, listed or cleaned."""


class ManifestError(PrismError):
    """An hour's manifest is missing or does not match its files."""
