"""prism_dagster: the Prism gateway's request logs archived as hourly Dagster assets.

The public API, for a Dagster project of your own:

- ``PrismArchiveComponent``: the Dagster Component (``dg scaffold defs
  prism_dagster.PrismArchiveComponent NAME``); its attributes are the keys of ``prism.yaml``.
- ``build_definitions(config)``: the same definitions from Python, for a hand-written
  ``definitions.py`` (merge them with ``dg.Definitions.merge``).
- ``load_config(path)`` / ``parse_config(mapping)``: a validated ``PrismConfig``.

Names resolve lazily so that ``import prism_dagster`` (and the command line) does not import
Dagster and the cloud SDKs until they are used.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("prism_dagster")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_EXPORTS = {
    "PrismArchiveComponent": "prism_dagster.component",
    "build_definitions": "prism_dagster.build",
    "PrismConfig": "prism_dagster.config",
    "load_config": "prism_dagster.config",
    "parse_config": "prism_dagster.config",
}

__all__ = [
    "PrismArchiveComponent",
    "PrismConfig",
    "__version__",
    "build_definitions",
    "load_config",
    "parse_config",
]

if TYPE_CHECKING:
    from prism_dagster.build import build_definitions
    from prism_dagster.component import PrismArchiveComponent
    from prism_dagster.config import PrismConfig, load_config, parse_config


def __dir__() -> list[str]:
    # `dg list components` finds component types by listing the module: show the lazy ones.
    return sorted({*globals(), *_EXPORTS})


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prism_dagster' has no attribute {name!r}")
    return getattr(import_module(module), name)
