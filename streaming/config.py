"""Configuration: conf/local.toml, layered with another TOML file, NEARDUP_* variables and flags.

The precedence is the usual one: embedded defaults < --config FILE < environment < command-line
flags. Each section is a pydantic model, so a new section is a class and a field of Config; the
layers are pydantic-settings sources (docs/architecture.md says why this library). Every value is
checked against the type of its field, and a bad one is refused with its dotted key.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
import json
import os
import tomllib
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from streaming.errors import ConfigError
from streaming.hashing.decode import GREY_STEPS
from streaming.hashing.types import BANDABLE_TYPES, DIHEDRAL_TYPES, HASH_TYPES, REGISTRY
from streaming.index.lookup import LOOKUP_NAMES
from streaming.index.rule import Rule, match_rule
from streaming.stream.flood import FloodLimit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "conf" / "local.toml"
ENV_PREFIX = "NEARDUP_"
# NEARDUP_* variables that steer the process rather than set a configuration key.
PROCESS_VARIABLES = ("NEARDUP_CONFIG", "NEARDUP_JARS_DIR", "NEARDUP_CRASH_AT")

REGISTER_MODES = ("all", "unique", "none")
REVIEW_SOURCES = ("auto", "matches", "topic")


def one_of(choices: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return AfterValidator(check)


def between(low: int, high: int) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return AfterValidator(check)


def holds(ok: Callable[[int], bool], why: str) -> AfterValidator:
    """An integer refused with `why` unless ok(value)."""

    def check(value: int) -> int:
        if not ok(value):
            raise ValueError(why)
        return value

    return AfterValidator(check)


# hashing.crops: each crop costs the hashing of the image again and an index entry per image.
MAX_CROPS = 4


def _crop_shares(shares: list[float]) -> list[float]:
    """hashing.crops: few shares, each a whole percent over 0 and under 0.5, increasing."""
    if len(shares) > MAX_CROPS:
        raise Refused(f"at most {MAX_CROPS} crops (each is hashed and indexed), got {shares!r}")
    for share in shares:
        if not 0 < share < 0.5:
            raise Refused(f"each share must be over 0 and under 0.5, got {shares!r}")
        if abs(share * 100 - round(share * 100)) > 1e-9:
            raise Refused(f"each share must be a whole percent (0.1, 0.15), got {shares!r}")
    if any(later <= earlier for earlier, later in itertools.pairwise(shares)):
        raise Refused(f"the shares must increase, each once, got {shares!r}")
    return shares


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("expected a non-empty string")
    return value


def each(ok: Callable[[str], bool], why: str) -> AfterValidator:
    """A list of strings refused with `why` unless ok(item) for every item."""

    def check(values: list[str]) -> list[str]:
        if not all(ok(value) for value in values):
            raise Refused(f"each must be {why}, got {values!r}")
        return values

    return AfterValidator(check)


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text)
    except ValueError:
        return False
    return True


def _unset_if_empty(value: object) -> object:
    """TOML has no null: an empty string leaves the value unset (None)."""
    if value in ("", None):
        return None
    if not isinstance(value, str):
        raise ValueError("expected a non-empty string")
    return value


def _string_list(value: object) -> object:
    """A list of strings, or one string of comma-separated items (as variables and flags give)."""
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("expected a list of strings")
    return value


def _free_table(value: object) -> object:
    """A table of keys passed through to Spark or Kafka: every value as a string."""
    if not isinstance(value, Mapping):
        raise ValueError("expected a table")
    return {str(key): str(item) for key, item in value.items()}


Positive = Annotated[int, holds(lambda n: n > 0, "must be positive")]
NonNegative = Annotated[int, holds(lambda n: n >= 0, "must not be negative")]
Text = Annotated[str, AfterValidator(_non_empty)]
Unset = Annotated[str | None, BeforeValidator(_unset_if_empty)]  # "" in TOML: not set
StringList = Annotated[list[str], BeforeValidator(_string_list)]
FreeTable = Annotated[dict[str, str], BeforeValidator(_free_table)]


class Refused(ValueError):
    """A refusal whose message shows the value itself (a list as parsed, not as written)."""


class RefusedKey(Refused):
    """A check across a section's keys, refusing one of them: `key` is the one its message names."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key

    @classmethod
    def of(cls, section: BaseModel, key: str, why: str) -> RefusedKey:
        """The refusal of `key` for `why`, with the section's value of it."""
        return cls(key, f"{why}, got {getattr(section, key)!r}")


class Section(BaseModel):
    """A table of conf/local.toml: every key required (the file has them all), none unknown."""

    # strict: a string is not an integer, 1 is not true (variables are parsed before, as JSON).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class KafkaLocalConfig(Section):
    port: int
    controller_port: int
    state_dir: Text


class KafkaConfig(Section):
    bootstrap_servers: Text
    images_topic: Text
    alerts_topic: Text
    dlq_topic: Text
    dry_run_alerts_topic: Text
    partitions: Positive
    connect_timeout_s: Positive
    security: FreeTable
    local: KafkaLocalConfig


class SparkConfig(Section):
    master: Text
    app_name: Text
    shuffle_partitions: int
    connect_timeout_s: Positive
    executor_timeout_s: Positive
    conf: FreeTable


class ClusterConfig(Section):
    """The local Spark standalone cluster of `neardup cluster start`: a master and workers on
    127.0.0.1."""

    master_port: int
    webui_port: int
    worker_webui_port: int
    workers: Positive
    cores: Positive
    memory: Text
    state_dir: Text


class IndexConfig(Section):
    path: Text
    lookup: Annotated[Text, one_of(LOOKUP_NAMES)]
    memory_max_images: NonNegative
    shards: NonNegative


with warnings.catch_warnings():
    # pydantic warns that `register` shadows ABCMeta.register (models are ABCs): on an instance the
    # field wins, and nothing calls the class method.
    warnings.filterwarnings("ignore", 'Field name "register"')

    class StreamConfig(Section):
        checkpoint: Text
        starting_offsets: Text
        trigger: Text
        max_offsets_per_trigger: Positive
        register: Annotated[Text, one_of(REGISTER_MODES)]
        restarts: NonNegative
        restart_backoff: Positive
        restart_window: Positive


class HashingConfig(Section):
    types: Annotated[StringList, each(lambda t: t in HASH_TYPES, f"one of {', '.join(HASH_TYPES)}")]
    primary: Annotated[Text, one_of(BANDABLE_TYPES)]
    hash_size: Annotated[int, holds(lambda n: n in (8, 16), "must be 8 or 16")]
    threshold: Annotated[int, between(0, 63)]
    exact: bool
    dihedral: bool
    # the central crops indexed with each image: the share of width and height cut off
    crops: Annotated[list[float], AfterValidator(_crop_shares)]
    unletterbox: bool
    rule: StringList
    confirm: dict[str, int]  # hash type -> the largest distance it confirms; empty: off
    grey: Annotated[Text, one_of(GREY_STEPS)]

    @field_validator("primary")
    @classmethod
    def _primary_is_computed(cls, primary: str, info: ValidationInfo) -> str:
        if primary not in info.data.get("types", [primary]):
            raise ValueError("must be one of hashing.types")
        return primary

    @model_validator(mode="after")
    def _matching_options(self) -> HashingConfig:
        if self.exact and (self.dihedral or self.unletterbox or self.crops):
            raise RefusedKey.of(self, "exact", "must be false with dihedral, crops or unletterbox")
        if self.dihedral and self.primary not in DIHEDRAL_TYPES:
            raise RefusedKey.of(
                self, "dihedral", f"needs a primary hash of {', '.join(DIHEDRAL_TYPES)}"
            )
        if self.rule:
            self._check_rule()
        self._check_confirm()
        if self.exact and self.grey != "luma":
            why = "must be luma when hashing.exact is true (imagehash's own grey step)"
            raise RefusedKey.of(self, "grey", why)
        return self

    @property
    def match_rule(self) -> Rule | None:
        """hashing.rule with hashing.confirm compiled in (both checked when the config was read);
        None when both are empty."""
        return match_rule(self.rule, self.confirm, self.primary, self.threshold)

    def _check_rule(self) -> None:
        """The rule parses, bounds the primary hash in every alternative, names computed hashes
        only, and the lookup's threshold reaches its largest bound on the primary."""
        try:
            rule = Rule.parse(" or ".join(self.rule), self.primary)
        except ValueError as e:
            raise RefusedKey("rule", str(e)) from None
        missing = sorted(rule.types - set(self.types))
        if missing:
            raise RefusedKey("rule", f"{', '.join(missing)} not in hashing.types")
        radius = rule.radius(self.primary)
        if radius > self.threshold:
            raise RefusedKey(
                "rule",
                f"bounds {self.primary} by {radius}, over hashing.threshold ({self.threshold}), "
                "the lookup's radius",
            )

    def _check_confirm(self) -> None:
        """Each confirming hash is computed, is not the primary (the threshold bounds that one)
        and is bounded within its bits (a type without a fixed width: by a non-negative bound)."""
        for hash_type, bound in self.confirm.items():
            if hash_type not in self.types:
                raise RefusedKey("confirm", f"{hash_type} not in hashing.types")
            if hash_type == self.primary:
                why = f"{hash_type} is the primary hash: hashing.threshold bounds it"
                raise RefusedKey("confirm", why)
            kind = REGISTRY[hash_type]
            bits = None if kind.bits is None or kind.segmented else kind.width(self.hash_size)
            if bound < 0 or (bits is not None and bound > bits):
                within = "0 or more" if bits is None else f"between 0 and {bits}, its bits"
                raise RefusedKey("confirm", f"{hash_type} <= {bound}: the bound must be {within}")


def _flood_limit(value: str | None) -> str | None:
    if value is not None:
        FloodLimit.parse(value)
    return value


class AlertsConfig(Section):
    """What reaches the alerts topic (docs/banks.md)."""

    max_per_match: Annotated[Unset, AfterValidator(_flood_limit)]  # none set: no flood control

    @property
    def flood_limit(self) -> FloodLimit | None:
        """max_per_match parsed (checked when the config was read); None when it is empty."""
        return None if self.max_per_match is None else FloodLimit.parse(self.max_per_match)


class SourcesConfig(Section):
    allowed_roots: StringList
    http_allowlist: StringList
    allowed_networks: Annotated[
        StringList, each(_is_network, "an IP network such as 127.0.0.1/32 or 10.0.0.0/8")
    ]
    max_bytes: Positive
    max_pixels: Positive
    max_message_bytes: Positive
    max_meta_bytes: Positive
    max_in_flight: Positive
    retries: Annotated[int, holds(lambda n: n >= 0, "must be 0 or more")]
    timeout_ms: Positive


class S3LocalConfig(Section):
    """The S3-compatible server of `neardup s3 start` (s3proxy) on 127.0.0.1."""

    port: int
    state_dir: Text
    buckets: StringList


class S3Config(Section):
    """S3 and S3-compatible stores, for image references, the index and the checkpoint alike.
    Unset values fall back to the standard AWS chain."""

    endpoint_url: Unset
    region: Unset
    path_style: bool
    access_key_id: Unset
    secret_access_key: Unset
    local: S3LocalConfig

    @model_validator(mode="after")
    def _key_pair(self) -> S3Config:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            why = "must be set together with secret_access_key, or both left empty"
            raise RefusedKey.of(self, "access_key_id", why)
        return self


class GcsConfig(Section):
    service_account_path: Unset


class AzureConfig(Section):
    account_name: Unset
    account_key: Unset


class ReviewConfig(Section):
    """The review page of `neardup review` and `neardup dedup --review`."""

    host: Text
    port: Annotated[int, holds(lambda port: 0 < port < 65536, "must be a TCP port")]
    token: Unset  # none set: one is generated when the bind needs it
    reviewer: Unset  # none set: the operating system's user name
    source: Annotated[Text, one_of(REVIEW_SOURCES)]
    page_size: Annotated[int, between(1, 500)]
    thumbnail_px: Annotated[int, between(16, 1024)]
    thumbnail_cache: NonNegative


class Config(BaseSettings):
    """The whole configuration, one attribute per table of conf/local.toml."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, strict=True)

    kafka: KafkaConfig
    spark: SparkConfig
    cluster: ClusterConfig
    index: IndexConfig
    stream: StreamConfig
    hashing: HashingConfig
    alerts: AlertsConfig
    sources: SourcesConfig
    review: ReviewConfig
    s3: S3Config
    gcs: GcsConfig
    azure: AzureConfig

    @model_validator(mode="after")
    def _crops_lookup(self) -> Config:
        # (auto opens join only for a large index on an object store: open_lookup refuses that)
        if self.hashing.crops and self.index.lookup == "join":
            why = (
                'needs index.lookup = "memory", "sharded" or "auto": the join lookup does not '
                "index crops, got index.lookup = 'join'"
            )
            raise RefusedKey("hashing.crops", why)
        return self

    def replace(self, **dotted: Any) -> Config:
        """A copy with values changed by dotted key, e.g. replace(**{"hashing.threshold": 8}); a
        section may be given whole (replace(cluster=other.cluster))."""
        changes = {
            key: v.model_dump() if isinstance(v, BaseModel) else v for key, v in dotted.items()
        }
        return _validated(lambda: Config.model_validate(_apply(self.model_dump(), changes)))


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read the defaults, then `path`, then NEARDUP_* variables, then `overrides` (dotted keys)."""
    dotted = {key: value for key, value in (overrides or {}).items() if value is not None}
    environment = os.environ if environ is None else environ
    files = [DEFAULT_CONFIG] if path is None else [DEFAULT_CONFIG, Path(path)]
    sources = (
        InitSettingsSource(Config, _apply({}, dotted)),
        EnvironmentSource(Config, environment),
        *(_toml_source(file) for file in reversed(files)),
    )
    return _validated(lambda: Config(_build_sources=(sources, {})))


def _toml_source(path: Path) -> TomlConfigSettingsSource:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        return TomlConfigSettingsSource(Config, toml_file=path)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None


class EnvironmentSource(PydanticBaseSettingsSource):
    """NEARDUP_<SECTION>_<KEY> variables: NEARDUP_KAFKA_LOCAL_PORT -> kafka.local.port, matched
    against the keys Config has (a key's own underscores make the plain delimiter ambiguous); a
    NEARDUP_ variable that names no key is refused."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads every variable at once

    def __call__(self) -> dict[str, Any]:
        known = {key.replace(".", "_").upper(): key for key in dotted_keys(self.settings_cls)}
        found = {}
        for name, value in self.environ.items():
            if not name.startswith(ENV_PREFIX) or name in PROCESS_VARIABLES:
                continue
            key = known.get(name[len(ENV_PREFIX) :])
            if key is None:
                raise ConfigError(
                    f"{name}: no configuration key of that name (known: {', '.join(sorted(known))})"
                )
            found[key] = _parse_variable(key, value)
        return _apply({}, found)


def dotted_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key of a model and its sections, dotted ("kafka.local.port"); free tables are keys."""
    keys = []
    for name, field in model.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            keys += dotted_keys(section, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


def _parse_variable(key: str, text: str) -> Any:
    """Variables are strings: JSON where it parses (numbers, lists, tables), else the text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text[:1] in "[{" or text.lstrip("-").isdigit():
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{key}: cannot parse {text!r}: {e}") from None
    return text


def _apply(raw: dict[str, Any], dotted: Mapping[str, Any]) -> dict[str, Any]:
    """raw with each dotted key set (tables created on the way); raw itself is left alone."""
    raw = copy.deepcopy(raw)
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        table = raw
        for parent in parents:
            table = table.setdefault(parent, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{key}: {parent} is not a table")
        table[leaf] = value
    return raw


def _validated(build: Callable[[], Config]) -> Config:
    """build(), its first validation error as a ConfigError naming the key."""
    try:
        return build()
    except ValidationError as e:
        raise ConfigError(_message(e.errors()[0])) from None


# What a pydantic error type means in the words of this configuration.
_EXPECTED = {
    "int_type": "expected an integer",
    "bool_type": "expected true or false",
    "string_type": "expected a non-empty string",
    "model_type": "expected a table",
    "dict_type": "expected a table",
    "list_type": "expected a list of strings",
}


def _message(error: ErrorDetails) -> str:
    key = ".".join(str(part) for part in error["loc"] if isinstance(part, str))
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return f"{key}: missing"
    if kind == "extra_forbidden":
        return f"{key}: unknown configuration key"
    if kind == "value_error":
        cause = error["ctx"]["error"]
        if isinstance(cause, RefusedKey):
            return f"{key}.{cause.key}: {cause}" if key else f"{cause.key}: {cause}"
        if isinstance(cause, Refused):
            return f"{key}: {cause}"
        return f"{key}: {cause}, got {value!r}"
    return f"{key}: {_EXPECTED.get(kind, error['msg'])}, got {value!r}"
