"""``PrismArchiveComponent``: the archive in a Dagster project's ``defs/``, configured in YAML.

Its ``attributes`` are the keys of ``prism.yaml``, validated by the same models
(``PrismConfig``): one declaration. ``dg scaffold defs prism_dagster.PrismArchiveComponent
NAME`` writes a ``defs.yaml`` that works as written (see ``scaffold``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import ValidationError, model_validator

from prism_dagster.build import build_definitions
from prism_dagster.component_scaffold import PrismArchiveScaffolder
from prism_dagster.config import Integration, PrismConfig
from prism_dagster.config.loading import anchored, component_namespace, described
from prism_dagster.config.model import shared_destination
from prism_dagster.errors import ConfigError


class PrismArchiveAttributes(PrismConfig):
    """A component's ``attributes``: ``prism.yaml``'s model, its problems told the same way."""

    @model_validator(mode="wrap")
    @classmethod
    def _described(cls, raw: Any, handler: Any) -> Any:
        # `dg check defs` shows this message: each problem naming the integration and the
        # field, as loading prism.yaml does, rather than pydantic's nested locations. The
        # attributes are never echoed back (a refused literal secret is among them): Dagster
        # prints each error's input, so the error carries a placeholder instead.
        try:
            return handler(raw)
        except ValidationError as exc:
            text = described(exc, raw, "this component's configuration")
            line = {
                "type": "value_error",
                "loc": (),
                "input": "(attributes not shown)",
                "ctx": {"error": ValueError(text)},
            }
            raise ValidationError.from_exception_data(cls.__name__, [line]) from None


#: The integrations of every instance loaded in this process, by namespace: each instance is
#: validated on its own, so two instances' archives are compared here.
_LOADED: dict[str, tuple[str, list[Integration]]] = {}


def _claim(config: PrismConfig, origin: str) -> None:
    """Refuse an instance whose archives overlap another loaded instance's."""
    for namespace, (where, integrations) in _LOADED.items():
        if namespace == config.namespace:
            continue  # the same instance, loaded again (a reload)
        problem = shared_destination([*integrations, *config.integrations])
        if problem:
            raise ConfigError(
                f"{origin}: an archive of this component ({config.namespace!r}) overlaps one "
                f"of the component {namespace!r} ({where}): {problem}"
            )
    _LOADED[config.namespace] = (origin, list(config.integrations))


@dg.scaffold_with(PrismArchiveScaffolder)
class PrismArchiveComponent(dg.Component):
    """Archives the Prism gateway's request logs to object storage, one Dagster asset
    partition per UTC hour: an archive asset, its checks, job and schedule per integration,
    and the sensors that keep each integration's status true.

    Attributes are the keys of ``prism.yaml`` (``source``, ``integrations``, ``catch_up``,
    ``pools``, ``status_store``, ``late_rows``) plus ``namespace``, which defaults to the
    component's folder name and prefixes every asset key and definition name, so several
    instances live in one project. Relative folders are anchored at the project root.
    """

    def __init__(self, config: PrismConfig) -> None:
        self.config = config

    @classmethod
    def get_model_cls(cls) -> type[PrismConfig]:
        return PrismArchiveAttributes

    @classmethod
    def load(cls, attributes: Any, context: dg.ComponentLoadContext) -> PrismArchiveComponent:
        """Build the component from its validated ``attributes``."""
        origin = f"{Path(context.path) / 'defs.yaml'}"
        if not isinstance(attributes, PrismConfig):
            raise ConfigError(f"{origin}: give at least 'source' and 'integrations'")
        config = attributes
        if "namespace" not in attributes.model_fields_set:
            config = config.in_namespace(component_namespace(Path(context.path)))
        config = anchored(config, Path(context.project_root), f"{origin} attributes")
        _claim(config, origin)
        return cls(config)

    def definitions(self) -> dg.Definitions:
        """The instance's definitions (what ``build_defs`` returns)."""
        return build_definitions(self.config)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return self.definitions()
