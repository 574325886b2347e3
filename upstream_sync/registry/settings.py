"""The reference registry's settings: one typed object, loaded once from
`<home>/registry.toml` plus `EDGE_REGISTRY_<NAME>` environment overrides. An invalid setting
stops startup with a message naming the key and the rule."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from edge.errors import EdgeError
from edge.workflow.config import Config, load_config
from upstream_sync import protocol as p
from upstream_sync.registry.errors import RegistrySettingsError

SETTINGS_FILE = "registry.toml"
ENV_PREFIX = "EDGE_REGISTRY_"


def _setting(default: Any, help: str, lo: int | None = None, hi: int | None = None) -> Any:
    return field(default=default, metadata={"help": help, "lo": lo, "hi": hi})


@dataclass(frozen=True)
class RegistrySettings:
    """Every setting of the reference registry, with its safe default."""

    host: str = _setting("127.0.0.1", "Address the registry listens on (default: loopback only).")
    port: int = _setting(8090, "TCP port of the registry.", 0, 65535)
    country_config: str = _setting(
        "",
        "Path of the country configuration (TOML) whose events name the records (their "
        "titles in searches). Empty: the built-in default. Use the same file as the boxes.",
    )
    capabilities: str = _setting(
        ",".join(p.CAPABILITIES),
        "What the registry offers boxes, comma-separated. `push.v1` and `pull.v1` are "
        "required; leave out `search.v1`, `lease.v1`, `login-check.v1` or `documents.v1` to turn "
        "that off, "
        "`push-compact.v1` to answer every action of a push, `push-derived-hashes.v1` to have "
        "boxes send every action's hashes, `escrow.v1` to keep no unlock secrets (boxes then "
        "unlock after a reboot only when staff log in), `push-pipelined.v1` to have boxes wait "
        "for the answer to each batch before they send the next.",
    )
    push_turn_wait_seconds: int = _setting(
        20,
        "How long a batch that a box sent before the answer to the batch before it waits for "
        "that batch to arrive; after that it is refused with 409 and the box sends both again.",
        1,
        300,
    )
    argon2_memory_kib: int = _setting(
        32768, "Argon2id memory per password hash or check (KiB).", 8192, 1_048_576
    )
    argon2_iterations: int = _setting(2, "Argon2id passes per password hash or check.", 1, 20)
    max_request_bytes: int = _setting(
        50_000_000,
        "Largest request body the registry accepts (a box's push batch).",
        1024,
        500_000_000,
    )
    max_message_bytes: int = _setting(
        64 * 1024 * 1024,
        "Most bytes a request may inflate to once decompressed; a body that would inflate "
        "further (a gzip bomb) is refused with 413 without being inflated.",
        65536,
        1_000_000_000,
    )
    lock_wait_seconds: int = _setting(
        30,
        "How long a request waits for the database while another process writes to it "
        "(e.g. `edge-registry token` run beside the server) before it fails.",
        1,
        600,
    )
    escrow_requests_per_hour: int = _setting(
        20,
        "Most requests for its unlock secret (registrations and releases, granted or refused) "
        "the registry answers one box within an hour; more are refused with 429.",
        1,
        10_000,
    )
    recovery_public_key: str = _setting(
        "",
        "Path of the country's recovery public key (the `.pub` file `edge-registry recovery-key "
        "new` writes): every box that enrolls gets a recovery key slot sealed to it. Empty: "
        "boxes get one only from their IT staff (`edge recovery-key set`).",
    )
    log_level: str = _setting("info", "One of `debug`, `info`, `warning`, `error`.")

    @property
    def offered(self) -> frozenset[str]:
        """The capabilities this registry offers."""
        return p.parse_capabilities(self.capabilities) or frozenset()


def documented_settings() -> list[tuple[str, Any, str]]:
    """(name, default, help) for every setting, for the docs and their test."""
    return [(f.name, f.default, f.metadata["help"]) for f in fields(RegistrySettings)]


def load_registry_settings(home: Path, overrides: dict[str, Any] | None = None) -> RegistrySettings:
    """Read `<home>/registry.toml`, apply `EDGE_REGISTRY_*` then `overrides` (the command
    line), validate; raise RegistrySettingsError naming the key."""
    path = home / SETTINGS_FILE
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise RegistrySettingsError(f"{path}: not valid TOML ({exc})") from exc
    known = {f.name: f for f in fields(RegistrySettings)}
    for key in values:
        if key not in known:
            raise RegistrySettingsError(f"{path}: unknown setting `{key}`")
    for name in known:
        env = os.environ.get(f"{ENV_PREFIX}{name.upper()}")
        if env is not None:
            values[name] = env
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    typed = {name: _typed(name, known[name], value, path) for name, value in values.items()}
    settings = replace(RegistrySettings(), **typed)
    _validate(settings)
    return settings


def load_country_config(s: RegistrySettings) -> Config:
    """The country configuration in force: the file set, else the built-in default."""
    try:
        return load_config(s.country_config or None)
    except EdgeError as exc:
        raise RegistrySettingsError(f"setting `country_config`: {exc.detail}") from None


def _typed(name: str, f: Any, value: Any, path: Path) -> Any:
    where = f"setting `{name}` (in {path} or {ENV_PREFIX}{name.upper()})"
    if isinstance(f.default, int):
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            raise RegistrySettingsError(
                f"{where}: expected a whole number, got {value!r}"
            ) from None
        lo, hi = f.metadata["lo"], f.metadata["hi"]
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise RegistrySettingsError(f"{where}: must be between {lo} and {hi}")
        return number
    if not isinstance(value, str):
        raise RegistrySettingsError(f"{where}: expected text, got {value!r}")
    return value


def _validate(s: RegistrySettings) -> None:
    if s.log_level not in ("debug", "info", "warning", "error"):
        raise RegistrySettingsError(
            "setting `log_level`: must be one of debug, info, warning, error"
        )
    named = [c.strip() for c in s.capabilities.split(",") if c.strip()]
    unknown = [c for c in named if c not in p.CAPABILITIES]
    if unknown:
        raise RegistrySettingsError(
            f"setting `capabilities`: unknown capability {unknown[0]!r} "
            f"(known: {', '.join(p.CAPABILITIES)})"
        )
    missing = [c for c in p.REQUIRED_CAPABILITIES if c not in named]
    if missing:
        raise RegistrySettingsError(
            f"setting `capabilities`: must include {', '.join(missing)} (protocol "
            f"{p.PROTOCOL} needs them)"
        )
    if s.country_config and not Path(s.country_config).is_file():
        raise RegistrySettingsError(
            f"setting `country_config`: file {s.country_config} does not exist"
        )
