"""Typed configs from YAML files plus ``--set key=value`` overrides (dotted keys into nested sections).

A config is a dataclass whose fields carry their help in ``metadata["help"]``; the same schema serves
the Python API, the YAML file and the command line. A numeric field declares its valid range there too
(``"min"`` / ``"max"`` inclusive, ``"above"`` / ``"below"`` exclusive); a field of a few named values
is a `StrEnum` (its members are the choices). A config that inherits `Checked` refuses a value outside
them when it is built, however it is built, naming the field (with its section: ``judge.batch_size``),
before anything loads, and holds an enum field's value as the enum member even when given as text.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from guidedcot.errors import ConfigError

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
SHOWN = 60  # characters of a value echoed in a message at most


class FieldError(ConfigError):
    """A field's value outside its declared range or choices; `load_config` names it with its section."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"config key {name!r} {reason}")
        self.name, self.reason = name, reason


def cut(text: str) -> str:
    """``text`` cut to `SHOWN` characters with its length said (a message never echoes a huge value)."""
    return text if len(text) <= SHOWN else f"{text[: SHOWN - 15]}... ({len(text)} characters)"


def shown(value: Any) -> str:
    """``repr(value)``, cut (`cut`)."""
    return cut(repr(value))


def check_fields(config: Any) -> None:
    """Raise `FieldError` for the first field of ``config`` outside its declared range (see the module
    docstring); a float must also be finite. None (an unset optional) passes. Enum fields: `enum_fields`."""
    for item in dataclasses.fields(config):
        value, meta = getattr(config, item.name), item.metadata
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                raise FieldError(item.name, f"must be a finite number, got {value}")
            for bound, fails, words in (("min", value.__lt__, ">="), ("above", value.__le__, ">"),
                                        ("max", value.__gt__, "<="), ("below", value.__ge__, "<")):  # fmt: skip
                if bound in meta and fails(meta[bound]):
                    raise FieldError(item.name, f"must be {words} {meta[bound]}, got {shown(value)}")


def enum_fields(config: Any) -> None:
    """Hold each `StrEnum`-typed field of ``config`` as its member (``"ppo"`` -> ``Algo.PPO``); raise
    `FieldError` for a value that is none of them."""
    hints = _type_hints(type(config))
    for item in dataclasses.fields(config):
        kind, value = hints[item.name], getattr(config, item.name)
        kind = next((k for k in typing.get_args(kind) if k is not type(None)), kind)
        if (
            not (isinstance(kind, type) and issubclass(kind, StrEnum))
            or value is None
            or isinstance(value, kind)
        ):
            continue
        object.__setattr__(config, item.name, member(kind, value, item.name))


def member(kind: type[E], value: object, name: str) -> E:
    """``value`` as a member of the `StrEnum` ``kind`` (``"ppo"`` -> ``Algo.PPO``); `FieldError`
    "config key 'name' must be one of a, b; got 'x'" for a value that is none of them."""
    if isinstance(value, kind):
        return value
    if value not in list(kind):
        raise FieldError(name, f"must be one of {', '.join(kind)}; got {shown(value)}")
    return kind(value)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class Checked:
    """Base of a config dataclass that checks its fields' ranges and choices whenever it is built;
    `check` again after setting fields by hand (as the command line does with its options)."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise `FieldError` for the first field outside its range or choices."""
        check_fields(self)
        enum_fields(self)


def field_help(cls: type, key: str) -> str:
    """The help text of config field ``key`` of ``cls`` (dotted into sections: ``student.model``): a
    command-line flag that sets a field shows the field's own help, so the text has one home."""
    section, _, rest = key.partition(".")
    fields = {item.name: item for item in dataclasses.fields(cls)}
    if section not in fields:
        raise KeyError(f"{cls.__name__} has no field {section!r}")
    item = fields[section]
    if rest:
        default = _default_section(item)
        if default is None:
            raise KeyError(f"{cls.__name__}.{section} is not a section")
        return field_help(type(default), rest)
    if "help" not in item.metadata:
        raise KeyError(f"{cls.__name__}.{section} has no help text")
    return str(item.metadata["help"])


def set_fields(config: T, values: dict[str, Any]) -> T:
    """A copy of ``config`` with each dotted ``key`` of ``values`` (``reader.model``) applied where its
    value is not None (a command-line flag left out), a path as text; validated like a YAML file
    (`apply_overrides`)."""
    nested: dict[str, Any] = {}
    for key, value in values.items():
        if value is not None:
            _set_dotted(nested, key, str(value) if isinstance(value, Path) else value)
    return apply_overrides(config, nested)


def load_config(
    cls: type[T], path: Path | str | None = None, overrides: list[str] | None = None, *, base: T | None = None
) -> T:
    """Build ``cls`` from the YAML file at ``path`` (optional), then apply ``key=value`` overrides;
    keys neither names keep their value in ``base`` (default: the class defaults)."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
        except UnicodeDecodeError as error:
            raise ConfigError(
                f"config file {path} is not UTF-8 text (byte {error.start}: {error.reason})"
            ) from None
        except yaml.YAMLError as error:
            raise ConfigError(f"config file {path} is not valid YAML: {cut(str(error))}") from error
        except RecursionError:
            raise ConfigError(f"config file {path} nests too deeply to be a config") from None
        except ValueError as error:  # e.g. an integer of more digits than Python converts
            raise ConfigError(
                f"config file {path} holds a value that cannot be read: {cut(str(error))}"
            ) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys to values")
        values = loaded or {}
    for override in overrides or []:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {override!r}: expected key=value, for example --set data.limit=20")
        _set_dotted(values, key.strip(), _Raw(raw))
    return _build(cls, values, prefix="", base=base)


def apply_overrides(base: T, values: dict[str, Any], prefix: str = "") -> T:
    """A copy of the config ``base`` with the (possibly nested, partial) mapping ``values`` applied and
    validated like a YAML file; errors name keys as ``prefix + key``."""
    return _build(type(base), values, prefix, base=base)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain-dict view of a config (enums as plain strings, tuples as lists), for writing the
    resolved config into a run folder as YAML or JSON."""
    return _plain(dataclasses.asdict(config))


def config_yaml(config: Any) -> str:
    """The resolved config as the YAML a run folder's ``config.yaml`` holds (reusable with --config)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


class _Raw(str):
    """A ``--set`` value as typed: kept verbatim for text fields, read as YAML for all others."""

    def parse(self, key: str) -> Any:
        if not self.strip():
            return ""
        try:
            return yaml.safe_load(self)
        except (ValueError, RecursionError):  # an integer of thousands of digits, deep nesting
            raise ConfigError(f"--set {key}={cut(str(self))}: not a value a config can hold") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {key}={cut(str(self))}: not a valid value ({error.problem})") from error


def _set_dotted(values: dict[str, Any], key: str, value: Any) -> None:
    node = values
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _build(cls: type[T], values: dict[str, Any], prefix: str, base: T | None = None) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"unknown config key {prefix + unknown[0]!r}; known keys here: {known}")
    kwargs = {}
    for name, value in values.items():
        current = getattr(base, name) if base is not None else None
        default = current if dataclasses.is_dataclass(current) else _default_section(fields[name])
        if default is not None and isinstance(value, dict):
            # a partial section keeps the base's (else the default) values of the keys it does not name
            kwargs[name] = _build(type(default), value, f"{prefix}{name}.", base=default)
        else:
            kwargs[name] = _coerce(hints[name], value, prefix + name)
    try:
        if base is not None:
            return dataclasses.replace(base, **kwargs)  # type: ignore[type-var]
        return cls(**kwargs)
    except FieldError as error:
        raise ConfigError(f"config key {prefix + error.name!r} {error.reason}") from None
    except TypeError as error:
        raise ConfigError(f"config section {prefix.rstrip('.') or cls.__name__}: {error}") from error


def _default_section(field: dataclasses.Field[Any]) -> Any:
    """The default instance of a section field (one with a dataclass default_factory), else None."""
    if field.default_factory is dataclasses.MISSING:  # type: ignore[misc]
        return None
    value = field.default_factory()  # type: ignore[misc]
    return value if dataclasses.is_dataclass(value) else None


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if isinstance(value, _Raw):
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        options = typing.get_args(hint) if union else (hint,)
        if any(map(_is_text, options)) and value.strip().lower() not in {"null", "none", "~"}:
            if str in options:
                return str(value)
            value = str(value)  # an enum's value as typed, checked below
        else:
            value = value.parse(key)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {shown(value)}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r} is a section; expected a mapping, got {shown(value)}")
        return _build(hint, value, prefix=f"{key}.")
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r} expects a mapping, got {shown(value)}")
        key_hint, value_hint = typing.get_args(hint) or (str, Any)
        return {_coerce(key_hint, k, key): _coerce(value_hint, v, f"{key}.{k}") for k, v in value.items()}
    if hint is Any:  # checked where it is used (a study's stage section: against that stage's config)
        return value
    if isinstance(value, dict):
        raise ConfigError(f"config key {key!r} is a value, not a section; got {shown(value)}")
    if origin in (list, tuple):
        (item,) = typing.get_args(hint)[:1] or (Any,)
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"config key {key!r} expects a list, got {shown(value)}")
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r} expects true or false, got {shown(value)}")
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(hint, type) and issubclass(hint, StrEnum) and isinstance(value, str):
        return member(hint, value, key)
    raise ConfigError(f"config key {key!r} expects {getattr(hint, '__name__', hint)}, got {shown(value)}")


def _is_text(hint: Any) -> bool:
    """A field read as text from ``--set``: ``str`` or a `StrEnum`."""
    return hint is str or (isinstance(hint, type) and issubclass(hint, StrEnum))
