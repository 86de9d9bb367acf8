"""Reading prism.yaml: YAML without duplicate keys, validation errors naming integration and
field, and relative folders anchored next to the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from prism_dagster.config.fields import EnvRef
from prism_dagster.config.integrations import PROVIDERS, Integration
from prism_dagster.config.model import PrismConfig, shared_destination
from prism_dagster.config.sources import SpoolSourceConfig
from prism_dagster.errors import ConfigError

CONFIG_ENV = "PRISM_CONFIG"


DEFAULT_CONFIG_FILE = "prism.yaml"


def _describe(error: dict[str, Any], raw: dict[str, Any]) -> str:
    loc = list(error["loc"])
    where = "prism.yaml"
    if loc[:1] == ["integrations"] and len(loc) > 1 and isinstance(loc[1], int):
        entry = (raw.get("integrations") or [])[loc[1]]
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"integration {name!r}" if name else f"integration #{loc[1] + 1}"
        loc = [part for part in loc[2:] if part not in PROVIDERS]
    elif loc[:1] == ["source"]:
        where, loc = "source", [part for part in loc[1:] if part not in ("spool", "postgres")]
    if error["type"] == "union_tag_invalid":
        ctx = error["ctx"]
        kind = ctx["discriminator"].strip("'")
        return f"{where}: unknown {kind} {ctx['tag']!r} (expected one of: {ctx['expected_tags']})"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required field is missing"
    if not loc:
        return message if where == "prism.yaml" else f"{where}: {message}"
    field = ".".join(str(part) for part in loc)
    return f"{where}: field {field!r}: {message}"


def parse_config(raw: Any, origin: str = "prism.yaml") -> PrismConfig:
    """Validate a parsed YAML document; raise ConfigError naming integration and field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping with 'source' and 'integrations'")
    try:
        return PrismConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "\n  ".join(_describe(error, raw) for error in exc.errors())
        raise ConfigError(f"{origin} is invalid:\n  {problems}") from None


def config_path() -> Path:
    """``$PRISM_CONFIG`` if set, else ``prism.yaml`` in the working directory."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice (YAML would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *anchor" merges; its keys are checked where they are defined
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: Path | None = None) -> PrismConfig:
    """Read and validate the configuration file."""
    path = path or config_path()
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file (set {CONFIG_ENV} or run `prism-dagster demo`)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    config = _relative_to(parse_config(raw, str(path)), path.parent)
    # Again now that relative folders mean "next to prism.yaml": an alias may show only now.
    problem = shared_destination(config.integrations)
    if problem:
        raise ConfigError(f"{path} is invalid:\n  {problem}")
    return config


def find_integration(config: PrismConfig, name: str) -> Integration:
    """The integration called ``name``, or a ConfigError listing the names there are."""
    for integration in config.integrations:
        if integration.name == name:
            return integration
    names = ", ".join(i.name for i in config.integrations)
    raise ConfigError(f"no integration named {name!r} (configured: {names})")


def _relative_to(config: PrismConfig, base: Path) -> PrismConfig:
    # Relative folders in prism.yaml mean "next to prism.yaml", wherever Dagster runs from.
    def anchor(value: str | EnvRef) -> str | EnvRef:
        if isinstance(value, EnvRef) or Path(value).expanduser().is_absolute():
            return value
        return str((base / value).resolve())

    source = config.source
    if isinstance(source, SpoolSourceConfig):
        source = source.model_copy(update={"path": anchor(source.path)})
    integrations = [
        i.model_copy(update={"path": anchor(i.path)}) if i.provider == "local" else i
        for i in config.integrations
    ]
    return config.model_copy(update={"source": source, "integrations": integrations})
