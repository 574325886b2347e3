"""The box's settings: one typed object, loaded once from `<home>/edge.toml` plus
`EDGE_<NAME>` environment overrides. Invalid settings stop startup naming the key."""

from __future__ import annotations

import os
import re
import tomllib
import zoneinfo
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from edge.errors import SettingsError

DEFAULT_HOME = Path("/var/lib/edge")
SETTINGS_FILE = "edge.toml"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Every setting of the box, with its safe default."""

    mode: str = _setting(
        "production",
        "`production` or `demo`. A demo box is created with demo users who share a published "
        "password; never use one in an office.",
    )
    box_id: str = _setting("", "This box's id (a UUID), written by `edge init`.")
    office_id: str = _setting("", "The office this box serves, written by `edge init`.")
    office_name: str = _setting("", "The office's name as people say it, e.g. `Ramallah Clinic`.")
    host: str = _setting("0.0.0.0", "Address the web server listens on (default: all).")
    port: int = _setting(8080, "TCP port of the web server.")
    timezone: str = _setting("UTC", "The office's time zone (IANA name), for dates shown to staff.")
    language: str = _setting(
        "en",
        "Language of the pages for a browser that asks for none the box has: `en` or `ar`. "
        "Each user can switch on any page.",
    )
    country_config: str = _setting(
        "",
        "Path of the country configuration (TOML). Empty: the built-in default "
        "(birth and death events, clinic and registration-office roles).",
    )
    log_level: str = _setting("info", "One of `debug`, `info`, `warning`, `error`.")
    writer_batch_max: int = _setting(
        256, "Most actions the journal writer commits together in one transaction."
    )
    max_request_bytes: int = _setting(1_048_576, "Largest request body the web server accepts.")
    disk_min_free_mb: int = _setting(
        200, "Below this much free disk (MB) the box reports itself not ready (`/readyz`)."
    )
    worker_stale_minutes: int = _setting(
        3, "A worker heartbeat older than this (minutes) makes `/readyz` report not ready."
    )
    mdns_interfaces: str = _setting(
        "all",
        "Where `edge serve` announces the box (mDNS): `all` network interfaces, `off`, or "
        "a comma-separated list of this box's IPv4 addresses.",
    )
    metrics_access: str = _setting(
        "lan",
        "Who may read `/metrics`: `lan` (loopback and private addresses), `open`, or `token` "
        "(an API token of a user who manages users).",
    )
    page_size: int = _setting(20, "Records per page in workqueue listings, unless asked otherwise.")
    page_size_max: int = _setting(100, "Largest page size a client may ask for.")
    session_idle_minutes: float = _setting(
        30,
        "A login session ends after this many minutes without the user doing anything (the "
        "pages warn two minutes before). May be a fraction, e.g. `0.5`.",
    )
    session_max_hours: int = _setting(
        12, "A login session ends this many hours after login, however active (one shift)."
    )
    offline_login_days: int = _setting(
        30,
        "Days a user may keep logging in while the registry is unreachable, counted from "
        "the last time their password was checked with the registry or set by an admin.",
    )
    lockout_after: int = _setting(5, "Failed logins in a row before the account is locked.")
    lockout_seconds: int = _setting(
        60, "First lock time; it doubles with each further failure, up to `lockout_max_seconds`."
    )
    lockout_max_seconds: int = _setting(3600, "Longest lock time after failed logins.")
    password_min_length: int = _setting(10, "Shortest password the box accepts.")
    argon2_memory_kib: int = _setting(
        32768, "Argon2id memory per password check (KiB); see docs/security.md."
    )
    argon2_iterations: int = _setting(2, "Argon2id passes per password check.")
    sync_batch_bytes: int = _setting(
        262_144, "Most bytes of actions (before compression) sent to the registry in one batch."
    )
    sync_backoff_max_seconds: int = _setting(
        600, "Longest wait between tries while the registry cannot be reached."
    )

    home: Path = field(default=DEFAULT_HOME, metadata={"help": "", "internal": True})

    @property
    def journal_path(self) -> Path:
        return self.home / "journal.db"

    @property
    def device_key_path(self) -> Path:
        return self.home / "device.key"

    @property
    def demo(self) -> bool:
        return self.mode == "demo"


def documented_settings() -> list[tuple[str, Any, str]]:
    """(name, default, help) for every public setting, for docs and `edge settings`."""
    out = []
    for f in fields(Settings):
        if f.metadata.get("internal"):
            continue
        default = f.default if f.default is not MISSING else None
        out.append((f.name, default, f.metadata["help"]))
    return out


def resolve_home(home: str | os.PathLike[str] | None) -> Path:
    """The box's data directory: `--home`, else `EDGE_HOME`, else /var/lib/edge."""
    if home:
        return Path(home).expanduser().resolve()
    env = os.environ.get("EDGE_HOME")
    return Path(env).expanduser().resolve() if env else DEFAULT_HOME


def load_settings(home: Path, *, require_init: bool = True) -> Settings:
    """Read `<home>/edge.toml`, apply `EDGE_*` overrides, validate; raise SettingsError."""
    path = home / SETTINGS_FILE
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: not valid TOML ({exc})") from exc
    elif require_init:
        raise SettingsError(f"{path} does not exist: run `edge init --home {home}` first")
    known = {f.name: f for f in fields(Settings) if not f.metadata.get("internal")}
    for key in values:
        if key not in known:
            raise SettingsError(f"{path}: unknown setting `{key}`")
    for name in known:
        env = os.environ.get(f"EDGE_{name.upper()}")
        if env is not None:
            values[name] = env
    typed: dict[str, Any] = {}
    for name, value in values.items():
        typed[name] = _coerce(name, known[name].type, value, path)
    settings = replace(Settings(home=home), **typed)
    _validate(settings, require_init)
    return settings


def _coerce(name: str, kind: Any, value: Any, path: Path) -> Any:
    where = f"setting `{name}` (in {path} or EDGE_{name.upper()})"
    if kind in ("int", int):
        if isinstance(value, bool):
            raise SettingsError(f"{where}: expected a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{where}: expected a whole number, got {value!r}") from None
    if kind in ("float", float):
        if isinstance(value, bool):
            raise SettingsError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{where}: expected a number, got {value!r}") from None
    if not isinstance(value, str):
        raise SettingsError(f"{where}: expected text, got {value!r}")
    return value


def _check(ok: bool, name: str, rule: str) -> None:
    if not ok:
        raise SettingsError(f"setting `{name}`: {rule}")


def _validate(s: Settings, require_init: bool) -> None:
    _check(s.mode in ("production", "demo"), "mode", "must be `production` or `demo`")
    _check(0 <= s.port <= 65535, "port", "must be between 0 and 65535")
    _check(
        s.log_level in ("debug", "info", "warning", "error"),
        "log_level",
        "must be one of debug, info, warning, error",
    )
    _check(1 <= s.writer_batch_max <= 10_000, "writer_batch_max", "must be between 1 and 10000")
    _check(
        1024 <= s.max_request_bytes <= 100_000_000,
        "max_request_bytes",
        "must be between 1024 and 100000000",
    )
    _check(1 <= s.page_size <= s.page_size_max, "page_size", "must be between 1 and page_size_max")
    _check(s.page_size_max <= 1000, "page_size_max", "must be at most 1000")
    _check(
        0.05 <= s.session_idle_minutes <= 24 * 60,
        "session_idle_minutes",
        "must be between 0.05 and 1440",
    )
    _check(1 <= s.session_max_hours <= 24 * 7, "session_max_hours", "must be between 1 and 168")
    _check(1 <= s.offline_login_days <= 365, "offline_login_days", "must be between 1 and 365")
    _check(1 <= s.lockout_after <= 100, "lockout_after", "must be between 1 and 100")
    _check(
        1 <= s.lockout_seconds <= s.lockout_max_seconds,
        "lockout_seconds",
        "must be between 1 and lockout_max_seconds",
    )
    _check(s.lockout_max_seconds <= 86400, "lockout_max_seconds", "must be at most 86400")
    _check(8 <= s.password_min_length <= 128, "password_min_length", "must be between 8 and 128")
    _check(
        8192 <= s.argon2_memory_kib <= 1_048_576,
        "argon2_memory_kib",
        "must be between 8192 and 1048576",
    )
    _check(1 <= s.argon2_iterations <= 20, "argon2_iterations", "must be between 1 and 20")
    _check(
        1024 <= s.sync_batch_bytes <= 50_000_000,
        "sync_batch_bytes",
        "must be between 1024 and 50000000",
    )
    _check(
        5 <= s.sync_backoff_max_seconds <= 86400,
        "sync_backoff_max_seconds",
        "must be between 5 and 86400",
    )
    try:
        zoneinfo.ZoneInfo(s.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"setting `timezone`: unknown time zone {s.timezone!r}") from None
    _check(s.language in ("en", "ar"), "language", "must be one of: en, ar")
    _check(s.disk_min_free_mb >= 0, "disk_min_free_mb", "must be 0 or more")
    _check(
        s.mdns_interfaces in ("all", "off")
        or all(
            re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", a.strip()) for a in s.mdns_interfaces.split(",")
        ),
        "mdns_interfaces",
        "must be `all`, `off` or IPv4 addresses separated by commas",
    )
    _check(1 <= s.worker_stale_minutes <= 1440, "worker_stale_minutes", "must be 1 to 1440")
    _check(
        s.metrics_access in ("lan", "open", "token"),
        "metrics_access",
        "must be one of: lan, open, token",
    )
    if s.country_config:
        _check(
            Path(s.country_config).is_file(),
            "country_config",
            f"file {s.country_config} does not exist",
        )
    if require_init:
        _check(bool(s.box_id), "box_id", "is empty: run `edge init` to create the box")
        _check(bool(s.office_id), "office_id", "is empty: run `edge init` to create the box")


def write_settings(home: Path, values: dict[str, Any]) -> Path:
    """Write a fresh edge.toml with the given values (used by `edge init`)."""
    lines = ["# Settings of this box. Every key is documented in docs/configuration.md.", ""]
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value}")
        else:
            escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{key} = "{escaped}"')
    path = home / SETTINGS_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
