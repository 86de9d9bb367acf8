"""Destinations: where archive objects are written, behind one small interface."""

from prism_dagster.destinations.base import Destination, ObjectKind, ObjectSink
from prism_dagster.destinations.local import LocalDestination

__all__ = ["Destination", "LocalDestination", "ObjectKind", "ObjectSink"]
