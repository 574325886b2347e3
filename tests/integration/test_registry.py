"""The reference registry as a real process: its own settings, its country configuration."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from edge.journal.db import sqlite3
from edge.workflow.config import default_config_path
from tests.helpers import REGISTRY, ROOT, edge_cli, running_box, start_registry, stop_process
from tests.integration.test_sync import declare
from tests.integration.test_sync_pull import new_box


def test_titles_come_from_the_country_configuration_in_force(tmp_path: Path) -> None:
    default = default_config_path().read_text()
    title = 'title = ["child.first_name", "child.last_name"]'
    assert title in default
    country = tmp_path / "country.toml"
    country.write_text(default.replace(title, 'title = ["mother.last_name", "child.first_name"]'))
    home = tmp_path / "registry"
    home.mkdir()
    registry = start_registry(home, env={"EDGE_REGISTRY_COUNTRY_CONFIG": str(country)})
    try:
        box_home = new_box(tmp_path, registry, "box")
        with running_box(box_home) as box:
            declare(box.client("clerk"), "Sara")
        assert "2 actions accepted" in edge_cli(box_home, "sync").stdout
    finally:
        stop_process(registry.process)
    conn = sqlite3.connect(home / "registry.db")
    titles = [r[0] for r in conn.execute("SELECT title FROM records")]
    conn.close()
    assert titles == ["Haddad Sara"]  # the built-in default would say "Sara Haddad"


def test_an_invalid_setting_stops_the_registry_naming_it(tmp_path: Path) -> None:
    (tmp_path / "registry.toml").write_text('capabilities = "push.v1,pull.v1,fax.v1"\n')
    refused = subprocess.run(
        [*REGISTRY, "--home", str(tmp_path), "serve"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "EDGE_REGISTRY_PORT": "8091"},
        timeout=60,
    )
    assert refused.returncode == 2
    assert "setting `capabilities`: unknown capability 'fax.v1'" in refused.stderr
