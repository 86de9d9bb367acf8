"""Reading prism.yaml: YAML without duplicate keys, validation errors naming integration and
field, and relative folders anchored next to the file."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from prism_dagster.config.fields import EnvRef, LiteralSecret
from prism_dagster.config.integrations import PROVIDERS, Integration
from prism_dagster.config.model import PrismConfig, shared_destination
from prism_dagster.config.sources import SpoolSourceConfig
from prism_dagster.errors import ConfigError

CONFIG_ENV = "PRISM_CONFIG"
#: The ``type:`` of a component's ``defs.yaml``; such a file's ``attributes`` are prism.yaml.
COMPONENT_TYPE = "prism_dagster.PrismArchiveComponent"


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
    if isinstance(error.get("input"), LiteralSecret):
        message = LiteralSecret.MESSAGE
    field = ".".join(str(part) for part in loc)
    if error["type"] == "extra_forbidden":
        return f"{where}: {_unknown(field, _known_fields(list(error['loc'][:-1])))}"
    if not loc:
        return message if where == "prism.yaml" else f"{where}: {message}"
    return f"{where}: field {field!r}: {message}"


def _unknown(field: str, known: list[str]) -> str:
    """A key no model declares, with the nearest one that it does, if one is near."""
    parent, _, key = field.rpartition(".")
    near = difflib.get_close_matches(key, known, n=1)
    if not near:
        return f"unknown field {field!r}"
    suggestion = f"{parent}.{near[0]}" if parent else near[0]
    return f"unknown field {field!r} (did you mean {suggestion!r}?)"


def _known_fields(loc: list[Any]) -> list[str]:
    """The fields of the model at ``loc`` (pydantic's location, provider tags and all)."""
    models: list[type[BaseModel]] = [PrismConfig]
    for part in (p for p in loc if not isinstance(p, int)):  # a list item: the same models
        fields = [model.model_fields[part] for model in models if part in model.model_fields]
        # Not a field: a union's tag (``s3`` in integrations.0.s3.bucket) picks its member.
        models = [found for f in fields for found in _models_in(f.annotation)] or [
            m for m in models if any(part in _tags(f) for f in m.model_fields.values())
        ]
    return sorted({name for model in models for name in model.model_fields})


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _tags(field: FieldInfo) -> tuple[Any, ...]:
    return get_args(field.annotation) if get_origin(field.annotation) is Literal else ()


def described(exc: ValidationError, raw: Any, origin: str) -> str:
    """A validation error as the operator reads it: every problem at once, each naming the
    integration and the field, an unknown field with the nearest known one."""
    raw = raw if isinstance(raw, dict) else {}
    problems = dict.fromkeys(_describe(error, raw) for error in exc.errors())
    return f"{origin} is invalid:\n  " + "\n  ".join(problems)


def parse_config(raw: Any, origin: str = "prism.yaml") -> PrismConfig:
    """Validate a parsed YAML document; raise ConfigError naming integration and field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping with 'source' and 'integrations'")
    try:
        return PrismConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(described(exc, raw, origin)) from None


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
    """Read and validate a configuration file: a ``prism.yaml``, or a component's
    ``defs.yaml`` (``type: prism_dagster.PrismArchiveComponent`` with ``attributes:``)."""
    path = path or config_path()
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file (set {CONFIG_ENV} or run `prism-dagster demo`)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if isinstance(raw, dict) and raw.get("type") == COMPONENT_TYPE:
        attributes = raw.get("attributes")
        origin = f"{path} attributes"
        config = parse_config(attributes, origin)
        if "namespace" not in config.model_fields_set:
            config = config.in_namespace(component_namespace(path.parent))
        return anchored(config, project_root(path.parent), origin)
    return anchored(parse_config(raw, str(path)), path.parent, str(path))


def anchored(config: PrismConfig, base: Path, origin: str) -> PrismConfig:
    """``config`` with its relative folders anchored at ``base``, checked again."""
    config = _relative_to(config, base)
    # Again now that relative folders are anchored: an alias may show only now.
    problem = shared_destination(config.integrations)
    if problem:
        raise ConfigError(f"{origin} is invalid:\n  {problem}")
    return config


def component_namespace(folder: Path) -> str:
    """A component's default namespace: its folder's name, as a namespace may spell it."""
    words = re.findall(r"[a-z0-9]+", folder.name.lower())
    name = "_".join(words)
    return name if name[:1].isalpha() else f"prism_{name}".rstrip("_")


def project_root(folder: Path) -> Path:
    """The Dagster project a component's folder belongs to: the nearest ``pyproject.toml``."""
    folder = folder.resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / "pyproject.toml").exists():
            return candidate
    return folder


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
