"""Configuration: conf/local.toml, layered with another TOML file, NEARDUP_* variables and flags.

The precedence is the usual one: embedded defaults < --config FILE < environment < command-line
flags. Every value is checked against the type of its field, and a bad one is refused with its
dotted key.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streaming.errors import ConfigError
from streaming.hashing.decode import GREY_STEPS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "conf" / "local.toml"
ENV_PREFIX = "NEARDUP_"
# NEARDUP_* variables that steer the process rather than set a configuration key.
PROCESS_VARIABLES = ("NEARDUP_CONFIG", "NEARDUP_JARS_DIR", "NEARDUP_CRASH_AT")

HASH_TYPES = ("ahash", "phash", "dhash", "whash", "whash-db4", "colorhash", "crop-resistant", "pdq")
# Hashes of a fixed width, which can therefore be banded as the primary hash (whash-db4 grows with
# the image).
BANDABLE_TYPES = ("ahash", "phash", "dhash", "whash", "pdq")
# Hashes whose 8 dihedral variants come from one decode (streaming/hashing/dihedral.py).
DIHEDRAL_TYPES = ("ahash", "phash", "dhash", "whash", "pdq")
REGISTER_MODES = ("all", "unique", "none")
INDEX_LOOKUPS = ("memory", "join")
REVIEW_SOURCES = ("auto", "matches", "topic")


@dataclasses.dataclass(frozen=True)
class KafkaLocalConfig:
    port: int
    controller_port: int
    state_dir: str


@dataclasses.dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: str
    images_topic: str
    alerts_topic: str
    dlq_topic: str
    dry_run_alerts_topic: str
    partitions: int
    connect_timeout_s: int
    security: dict[str, str]
    local: KafkaLocalConfig


@dataclasses.dataclass(frozen=True)
class SparkConfig:
    master: str
    app_name: str
    shuffle_partitions: int
    connect_timeout_s: int
    executor_timeout_s: int
    conf: dict[str, str]


@dataclasses.dataclass(frozen=True)
class IndexConfig:
    path: str
    lookup: str


@dataclasses.dataclass(frozen=True)
class StreamConfig:
    checkpoint: str
    starting_offsets: str
    trigger: str
    max_offsets_per_trigger: int
    register: str


@dataclasses.dataclass(frozen=True)
class HashingConfig:
    types: list[str]
    primary: str
    hash_size: int
    threshold: int
    exact: bool
    dihedral: bool
    unletterbox: bool
    rule: list[str]
    grey: str


@dataclasses.dataclass(frozen=True)
class SourcesConfig:
    allowed_roots: list[str]
    http_allowlist: list[str]
    allowed_networks: list[str]
    max_bytes: int
    max_pixels: int
    max_in_flight: int
    retries: int
    timeout_ms: int


@dataclasses.dataclass(frozen=True)
class S3LocalConfig:
    """The S3-compatible server of `neardup s3 start` (s3proxy) on 127.0.0.1."""

    port: int
    state_dir: str
    buckets: list[str]


@dataclasses.dataclass(frozen=True)
class S3Config:
    """S3 and S3-compatible stores, for image references, the index and the checkpoint alike.
    Unset values (empty strings) fall back to the standard AWS chain."""

    endpoint_url: str | None
    region: str | None
    path_style: bool
    access_key_id: str | None
    secret_access_key: str | None
    local: S3LocalConfig


@dataclasses.dataclass(frozen=True)
class GcsConfig:
    service_account_path: str | None


@dataclasses.dataclass(frozen=True)
class AzureConfig:
    account_name: str | None
    account_key: str | None


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """The local Spark standalone cluster of `neardup cluster start`: a master and workers on
    127.0.0.1."""

    master_port: int
    webui_port: int
    worker_webui_port: int
    workers: int
    cores: int
    memory: str
    state_dir: str


@dataclasses.dataclass(frozen=True)
class ReviewConfig:
    """The review page of `neardup review` and `neardup dedup --review`."""

    host: str
    port: int
    token: str | None  # "" in TOML: none set (one is generated when the bind needs it)
    reviewer: str | None  # "" in TOML: the operating system's user name
    source: str
    page_size: int
    thumbnail_px: int
    thumbnail_cache: int


@dataclasses.dataclass(frozen=True)
class Config:
    kafka: KafkaConfig
    spark: SparkConfig
    cluster: ClusterConfig
    index: IndexConfig
    stream: StreamConfig
    hashing: HashingConfig
    sources: SourcesConfig
    review: ReviewConfig
    s3: S3Config
    gcs: GcsConfig
    azure: AzureConfig

    def replace(self, **dotted: Any) -> Config:
        """A copy with values changed by dotted key, e.g. replace(**{"hashing.threshold": 8})."""
        return _build(Config, _apply(dataclasses.asdict(self), dotted, parse_strings=False), "")


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read the defaults, then `path`, then NEARDUP_* variables, then `overrides` (dotted keys)."""
    raw = _read_toml(DEFAULT_CONFIG)
    if path is not None:
        raw = _merge(raw, _read_toml(Path(path)))
    raw = _apply(
        raw, _env_overrides(raw, os.environ if environ is None else environ), parse_strings=True
    )
    raw = _apply(
        raw, {k: v for k, v in (overrides or {}).items() if v is not None}, parse_strings=False
    )
    return _build(Config, raw, "")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if (
            isinstance(value, Mapping)
            and isinstance(merged.get(key), Mapping)
            and key not in _FREE_TABLES
        ):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# Tables whose keys are free (passed through to Spark or Kafka), so they are replaced, not merged
# key by key.
_FREE_TABLES = ("security", "conf")


def _env_overrides(raw: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """NEARDUP_KAFKA_LOCAL_PORT -> kafka.local.port, matched against the keys the config has."""
    known = {key.replace(".", "_").upper(): key for key in _dotted_keys(raw)}
    found = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in PROCESS_VARIABLES:
            continue
        key = known.get(name[len(ENV_PREFIX) :])
        if key is None:
            raise ConfigError(
                f"{name}: no configuration key of that name (known: {', '.join(sorted(known))})"
            )
        found[key] = value
    return found


def _dotted_keys(raw: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in raw.items():
        if isinstance(value, Mapping) and key not in _FREE_TABLES:
            keys += _dotted_keys(value, f"{prefix}{key}.")
        else:
            keys.append(prefix + key)
    return keys


def _apply(raw: dict[str, Any], dotted: Mapping[str, Any], parse_strings: bool) -> dict[str, Any]:
    raw = _merge(raw, {})
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        table = raw
        for parent in parents:
            table = table.setdefault(parent, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{key}: {parent} is not a table")
        table[leaf] = _parse_env(key, value) if parse_strings else value
    return raw


def _parse_env(key: str, text: str) -> Any:
    """Environment values are strings: JSON where it parses (numbers, lists, tables), else the
    text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text[:1] in "[{" or text.lstrip("-").isdigit():
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{key}: cannot parse {text!r}: {e}") from None
    return text


def _build(cls: type, raw: Any, key: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key}: expected a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{key + '.' if key else ''}{unknown[0]}: unknown configuration key")
    values = {}
    for name in names:
        sub = f"{key}.{name}" if key else name
        if name not in raw:
            raise ConfigError(f"{sub}: missing")
        values[name] = _coerce(hints[name], raw[name], sub)
    built = cls(**values)
    _check(built, key)
    return built


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if hint == str | None:
        return None if value in ("", None) else _coerce(str, value, key)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    origin = typing.get_origin(hint)
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        return list(value)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {value!r}")
        return {str(k): str(v) for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
        return value
    if hint == str | None:
        # TOML has no null: an empty string leaves the value unset.
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value or None
    raise TypeError(f"unsupported config field type {hint} for {key}")


def _check(section: Any, key: str) -> None:
    """Range checks that need more than the type."""

    def require(ok: bool, field: str, why: str) -> None:
        if not ok:
            raise ConfigError(f"{key}.{field}: {why}, got {getattr(section, field)!r}")

    if isinstance(section, HashingConfig):
        bad = [t for t in section.types if t not in HASH_TYPES]
        require(not bad, "types", f"each must be one of {', '.join(HASH_TYPES)}")
        require(
            section.primary in BANDABLE_TYPES,
            "primary",
            f"must be one of {', '.join(BANDABLE_TYPES)}",
        )
        require(section.primary in section.types, "primary", "must be one of hashing.types")
        require(section.hash_size in (8, 16), "hash_size", "must be 8 or 16")
        require(0 <= section.threshold < 64, "threshold", "must be between 0 and 63")
        kernels_only = not (section.exact and (section.dihedral or section.unletterbox))
        require(kernels_only, "exact", "must be false with dihedral or unletterbox")
        require(
            not section.dihedral or section.primary in DIHEDRAL_TYPES,
            "dihedral",
            f"needs a primary hash of {', '.join(DIHEDRAL_TYPES)}",
        )
        if section.rule:
            _check_rule(section, key)
        require(section.grey in GREY_STEPS, "grey", f"must be one of {', '.join(GREY_STEPS)}")
        require(
            not section.exact or section.grey == "luma",
            "grey",
            "must be luma when hashing.exact is true (imagehash's own grey step)",
        )
    elif isinstance(section, IndexConfig):
        require(
            section.lookup in INDEX_LOOKUPS, "lookup", f"must be one of {', '.join(INDEX_LOOKUPS)}"
        )
    elif isinstance(section, StreamConfig):
        require(
            section.register in REGISTER_MODES,
            "register",
            f"must be one of {', '.join(REGISTER_MODES)}",
        )
        require(section.max_offsets_per_trigger > 0, "max_offsets_per_trigger", "must be positive")
    elif isinstance(section, KafkaConfig):
        require(section.partitions > 0, "partitions", "must be positive")
        require(section.connect_timeout_s > 0, "connect_timeout_s", "must be positive")
    elif isinstance(section, SparkConfig):
        require(section.connect_timeout_s > 0, "connect_timeout_s", "must be positive")
        require(section.executor_timeout_s > 0, "executor_timeout_s", "must be positive")
    elif isinstance(section, ClusterConfig):
        require(section.workers > 0, "workers", "must be positive")
        require(section.cores > 0, "cores", "must be positive")
    elif isinstance(section, SourcesConfig):
        require(section.max_bytes > 0, "max_bytes", "must be positive")
        require(section.max_pixels > 0, "max_pixels", "must be positive")
        require(section.max_in_flight > 0, "max_in_flight", "must be positive")
        require(section.retries >= 0, "retries", "must be 0 or more")
        require(section.timeout_ms > 0, "timeout_ms", "must be positive")
        require(
            all(_is_network(n) for n in section.allowed_networks),
            "allowed_networks",
            "each must be an IP network such as 127.0.0.1/32 or 10.0.0.0/8",
        )
    elif isinstance(section, ReviewConfig):
        require(0 < section.port < 65536, "port", "must be a TCP port")
        require(
            section.source in REVIEW_SOURCES,
            "source",
            f"must be one of {', '.join(REVIEW_SOURCES)}",
        )
        require(0 < section.page_size <= 500, "page_size", "must be between 1 and 500")
        require(16 <= section.thumbnail_px <= 1024, "thumbnail_px", "must be between 16 and 1024")
        require(section.thumbnail_cache >= 0, "thumbnail_cache", "must not be negative")
    elif isinstance(section, S3Config):
        require(
            (section.access_key_id is None) == (section.secret_access_key is None),
            "access_key_id",
            "must be set together with secret_access_key, or both left empty",
        )


def _check_rule(hashing: HashingConfig, key: str) -> None:
    """A rule parses, bounds the primary hash in every alternative, names computed hashes only, and
    the lookup's threshold reaches its largest bound on the primary."""
    from streaming.index.rule import Rule

    try:
        rule = Rule.parse(" or ".join(hashing.rule), hashing.primary)
    except ValueError as e:
        raise ConfigError(f"{key}.rule: {e}") from None
    missing = sorted(rule.types - set(hashing.types))
    if missing:
        raise ConfigError(f"{key}.rule: {', '.join(missing)} not in hashing.types")
    if rule.radius(hashing.primary) > hashing.threshold:
        raise ConfigError(
            f"{key}.rule: bounds {hashing.primary} by {rule.radius(hashing.primary)}, over "
            f"hashing.threshold ({hashing.threshold}), the lookup's radius"
        )


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text)
    except ValueError:
        return False
    return True
