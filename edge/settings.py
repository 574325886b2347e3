"""The box's settings: one typed object, loaded once from `<home>/edge.toml` plus
`EDGE_<NAME>` environment overrides. Invalid settings stop startup naming the key."""

from __future__ import annotations

import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from edge.errors import SettingsError

DEFAULT_HOME = Path("/var/lib/edge")
SETTINGS_FILE = "edge.toml"


def _setting(
    default: Any,
    help: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    rule: Callable[[Settings], str | None] | None = None,
) -> Any:
    """A setting: its default, its one-line help, and its rule (a range, or `rule` returning
    what is wrong). A `Literal` type lists the values allowed."""
    return field(default=default, metadata={"help": help, "lo": lo, "hi": hi, "rule": rule})


@dataclass(frozen=True)
class Settings:
    """Every setting of the box, with its safe default."""

    mode: Literal["production", "demo"] = _setting(
        "production",
        "`production` or `demo`. A demo box is created with demo users who share a published "
        "password; never use one in an office.",
    )
    box_id: str = _setting("", "This box's id (a UUID), written by `edge init`.")
    office_id: str = _setting("", "The office this box serves, written by `edge init`.")
    office_name: str = _setting("", "The office's name as people say it, e.g. `Ramallah Clinic`.")
    host: str = _setting("0.0.0.0", "Address the web server listens on (default: all).")
    port: int = _setting(8080, "TCP port of the web server.", lo=0, hi=65535)
    timezone: str = _setting(
        "UTC",
        "The office's time zone (IANA name), for dates shown to staff.",
        rule=lambda s: None if _zone_known(s.timezone) else f"unknown time zone {s.timezone!r}",
    )
    clock: Literal["ntp", "host"] = _setting(
        "ntp",
        "Who sets the box's clock. `ntp`: the box itself, when the network's time server first "
        "answers (a Raspberry Pi has no clock of its own); until then actions are saved with "
        "the box's own time, marked so, and the registry corrects it. `host`: the computer or "
        "virtual machine host the box runs on keeps the time (the demo, a developer's PC): "
        "taken as set.",
    )
    language: Literal["en", "ar"] = _setting(
        "en",
        "Language of the pages for a browser that asks for none the box has: `en` or `ar`. "
        "Each user can switch on any page.",
    )
    country_config: str = _setting(
        "",
        "Path of the country configuration (TOML). Empty: the built-in default "
        "(birth and death events, clinic and registration-office roles).",
        rule=lambda s: (
            f"file {s.country_config} does not exist"
            if s.country_config and not Path(s.country_config).is_file()
            else None
        ),
    )
    log_level: Literal["debug", "info", "warning", "error"] = _setting(
        "info", "How much the box logs: `debug`, `info`, `warning` or `error`."
    )
    writer_batch_max: int = _setting(
        256, "Most actions the journal writer commits together in one transaction.", lo=1, hi=10_000
    )
    http_header_timeout_seconds: float = _setting(
        10,
        "A request's headers must arrive within this many seconds, or the connection is closed "
        "(a half-open connection cannot be held for ever).",
        lo=1,
        hi=300,
    )
    http_max_header_bytes: int = _setting(
        32_768, "Largest request header the web server reads (431 above).", lo=4096, hi=1_048_576
    )
    http_max_connections: int = _setting(
        256,
        "Requests the web server works on at once; above, it answers 503 at once instead of "
        "queueing (keeps the box answering when a device floods it).",
        lo=8,
        hi=10_000,
    )
    max_request_bytes: int = _setting(
        1_048_576, "Largest request body the web server accepts.", lo=1024, hi=100_000_000
    )
    disk_min_free_mb: int = _setting(
        200, "Below this much free disk (MB) the box reports itself not ready (`/readyz`).", lo=0
    )
    worker_stale_minutes: int = _setting(
        3,
        "A worker heartbeat older than this (minutes) makes `/readyz` report not ready.",
        lo=1,
        hi=1440,
    )
    push_stalled_minutes: float = _setting(
        5,
        "Actions waiting, the registry answering, and no push for this long (minutes, beyond "
        "a backoff): `/readyz` and `edge doctor` report the worker not pushing. May be a "
        "fraction.",
        lo=0.05,
        hi=1440,
    )
    mdns_interfaces: str = _setting(
        "all",
        "Where `edge serve` announces the box (mDNS): `all` network interfaces, `off`, or "
        "a comma-separated list of this box's IPv4 addresses.",
        rule=lambda s: (
            None
            if s.mdns_interfaces in ("all", "off")
            or all(
                re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", a.strip())
                for a in s.mdns_interfaces.split(",")
            )
            else "must be `all`, `off` or IPv4 addresses separated by commas"
        ),
    )
    metrics_access: Literal["lan", "open", "token"] = _setting(
        "lan",
        "Who may read `/metrics`: `lan` (loopback and private addresses), `open`, or `token` "
        "(an API token of a user who manages users).",
    )
    page_size: int = _setting(
        20,
        "Records per page in workqueues, search and the outbox, unless asked otherwise.",
        rule=lambda s: (
            None if 1 <= s.page_size <= s.page_size_max else "must be between 1 and page_size_max"
        ),
    )
    page_size_max: int = _setting(100, "Largest page size a client may ask for.", lo=1, hi=1000)
    session_idle_minutes: float = _setting(
        30,
        "A login session ends after this many minutes without the user doing anything (the "
        "pages warn two minutes before). May be a fraction, e.g. `0.5`.",
        lo=0.05,
        hi=24 * 60,
    )
    session_max_hours: int = _setting(
        12,
        "A login session ends this many hours after login, however active (one shift).",
        lo=1,
        hi=24 * 7,
    )
    offline_login_days: int = _setting(
        30,
        "Days a user may keep logging in while the registry is unreachable, counted from "
        "the last time their password was checked with the registry or set by an admin.",
        lo=1,
        hi=365,
    )
    lockout_after: int = _setting(
        5, "Failed logins in a row before the account is locked.", lo=1, hi=100
    )
    lockout_seconds: int = _setting(
        60,
        "First lock time; it doubles with each further failure, up to `lockout_max_seconds`.",
        rule=lambda s: (
            None
            if 1 <= s.lockout_seconds <= s.lockout_max_seconds
            else "must be between 1 and lockout_max_seconds"
        ),
    )
    lockout_max_seconds: int = _setting(3600, "Longest lock time after failed logins.", hi=86400)
    password_min_length: int = _setting(10, "Shortest password the box accepts.", lo=8, hi=128)
    argon2_memory_kib: int = _setting(
        32768,
        "Argon2id memory per password check (KiB); see docs/security.md.",
        lo=8192,
        hi=1_048_576,
    )
    argon2_iterations: int = _setting(2, "Argon2id passes per password check.", lo=1, hi=20)
    keyslot_argon2_memory_kib: int = _setting(
        65536,
        "Argon2id memory (KiB) of the key slot a user's password opens: heavier than the login "
        "check, since it is worked once per boot and is what a thief with the card must guess "
        "against (docs/security.md).",
        lo=8192,
        hi=1_048_576,
    )
    keyslot_argon2_iterations: int = _setting(
        3, "Argon2id passes of a user's key slot.", lo=1, hi=20
    )
    runtime_dir: str = _setting(
        "",
        "Folder in memory where the unlocked data key is kept while the box runs (never on the "
        "card). Empty: /run/edge when the systemd units made it, else /dev/shm/edge-<uid>-<box>.",
    )
    sync_batch_bytes: int = _setting(
        1_048_576,
        "Most bytes of actions (before compression) sent to the registry in one batch; "
        "smaller on a link too slow to carry it in 10 s (the batch adapts).",
        lo=1024,
        hi=50_000_000,
    )
    sync_backoff_max_seconds: int = _setting(
        600, "Longest wait between tries while the registry cannot be reached.", lo=5, hi=86400
    )
    documents_max_file_bytes: int = _setting(
        5_242_880,
        "Largest supporting document (a scan or photo: JPEG, PNG or PDF) the box accepts, in "
        "bytes (default 5 MB).",
        lo=1024,
        hi=100_000_000,
    )
    documents_max_record_bytes: int = _setting(
        20_971_520,
        "Most bytes of supporting documents one record may have, all together (default 20 MB). "
        "A form sending documents may be this large (plus `max_request_bytes`), no larger.",
        rule=lambda s: (
            None
            if s.documents_max_file_bytes <= s.documents_max_record_bytes <= 500_000_000
            else "must be between documents_max_file_bytes and 500000000"
        ),
    )
    documents_max_per_record: int = _setting(
        10, "Most supporting documents one record may have.", lo=1, hi=100
    )
    sync_documents_round_bytes: int = _setting(
        262_144,
        "Most bytes of supporting documents sent to the registry in one round of the worker. "
        "Actions waiting go first at every round, so a large scan on a slow link never holds "
        "them up for longer than this many bytes take.",
        lo=1024,
        hi=100_000_000,
    )

    home: Path = field(default=DEFAULT_HOME, metadata={"help": "", "internal": True})

    @property
    def journal_path(self) -> Path:
        return self.home / "journal.db"

    @property
    def upload_request_bytes(self) -> int:
        """The largest body of a form that sends documents (the form's fields besides)."""
        return self.documents_max_record_bytes + self.max_request_bytes

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
    kinds = get_type_hints(Settings)
    typed: dict[str, Any] = {}
    for name, value in values.items():
        typed[name] = _coerce(name, kinds[name], value, path)
    settings = replace(Settings(home=home), **typed)
    _validate(settings, require_init)
    return settings


def _coerce(name: str, kind: Any, value: Any, path: Path) -> Any:
    where = f"setting `{name}` (in {path} or EDGE_{name.upper()})"
    if kind is int or kind is float:
        what = "a whole number" if kind is int else "a number"
        if isinstance(value, bool):
            raise SettingsError(f"{where}: expected {what}, got {value!r}")
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{where}: expected {what}, got {value!r}") from None
    if not isinstance(value, str):
        raise SettingsError(f"{where}: expected text, got {value!r}")
    return value


def _validate(s: Settings, require_init: bool) -> None:
    """Each field's own rule: its `Literal` values, its range, its `rule`."""
    kinds = get_type_hints(Settings)
    for f in fields(Settings):
        value, meta = getattr(s, f.name), f.metadata
        problem = None
        choices = get_args(kinds[f.name]) if get_origin(kinds[f.name]) is Literal else ()
        lo, hi = meta.get("lo"), meta.get("hi")
        if choices and value not in choices:
            names = [f"`{c}`" for c in choices]
            problem = "must be " + (
                " or ".join(names) if len(names) == 2 else "one of " + ", ".join(names)
            )
        elif (lo is not None and value < lo) or (hi is not None and value > hi):
            problem = (
                f"must be between {lo:g} and {hi:g}"
                if lo is not None and hi is not None
                else f"must be {lo:g} or more"
                if lo is not None
                else f"must be at most {hi:g}"
            )
        elif meta.get("rule"):
            problem = meta["rule"](s)
        if problem:
            raise SettingsError(f"setting `{f.name}`: {problem}")
    if require_init:
        for name in ("box_id", "office_id"):
            if not getattr(s, name):
                raise SettingsError(
                    f"setting `{name}`: is empty: run `edge init` to create the box"
                )


def _zone_known(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


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
