"""Settings: safe defaults, environment overrides, errors naming the key, documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import SettingsError
from edge.settings import documented_settings, load_settings, resolve_home, write_settings
from tests.helpers import ROOT


def box_home(tmp_path: Path, **extra: object) -> Path:
    write_settings(tmp_path, {"box_id": "b-1", "office_id": "o-1", **extra})
    return tmp_path


def test_defaults_are_safe(tmp_path: Path) -> None:
    s = load_settings(box_home(tmp_path))
    assert s.mode == "production" and s.port == 8080 and s.timezone == "UTC"
    assert s.journal_path == tmp_path / "journal.db"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_PORT", "9000")
    monkeypatch.setenv("EDGE_MODE", "demo")
    s = load_settings(box_home(tmp_path, port=8081))
    assert s.port == 9000 and s.demo


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("port", "eighty", "setting `port`"),
        ("port", 70000, "setting `port`: must be between 0 and 65535"),
        ("mode", "debug", "setting `mode`: must be `production` or `demo`"),
        ("timezone", "Mars/Olympus", "setting `timezone`: unknown time zone"),
        ("country_config", "/nonexistent.toml", "setting `country_config`"),
        ("page_size", 500, "setting `page_size`"),
        ("colour", "blue", "unknown setting `colour`"),
    ],
)
def test_invalid_settings_name_the_key(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    with pytest.raises(SettingsError, match=message.replace("`", ".").replace("(", ".")):
        load_settings(box_home(tmp_path, **{key: value}))


def test_invalid_env_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_WRITER_BATCH_MAX", "lots")
    with pytest.raises(SettingsError, match="EDGE_WRITER_BATCH_MAX"):
        load_settings(box_home(tmp_path))


def test_uninitialised_home_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="edge init"):
        load_settings(tmp_path)


def test_home_from_flag_then_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDGE_HOME", str(tmp_path / "env"))
    assert resolve_home(None) == tmp_path / "env"
    assert resolve_home(tmp_path / "flag") == tmp_path / "flag"


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    for name, default, help_text in documented_settings():
        assert f"`{name}`" in doc, f"docs/configuration.md does not document `{name}`"
        assert f"EDGE_{name.upper()}" in doc
        assert help_text in doc, f"the help of `{name}` changed: run scripts/settings_doc.py"
        # The row says the default the box really has (a stale default fails, too).
        shown = "(empty)" if default == "" else f"`{default}`"
        row = f"| `{name}` | `EDGE_{name.upper()}` | {shown} | {help_text} |"
        assert row in doc, f"the row of `{name}` is stale: run scripts/settings_doc.py"
