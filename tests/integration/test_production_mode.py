"""In production mode the development header must not identify anyone."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import edge_cli, running_box


def test_dev_header_is_refused_in_production(tmp_path: Path) -> None:
    edge_cli(tmp_path, "init")
    edge_cli(tmp_path, "users", "add", "clerk", "--name", "Amina", "--role", "clinic-clerk")
    with running_box(tmp_path) as box:
        r = box.client("clerk").get("/api/v1/workqueues")
        assert r.status_code == 401
        r = box.client("admin").post("/api/v1/records", json={"event_type": "birth"})
        assert r.status_code == 401
    assert "mode = \"production\"" in (tmp_path / "edge.toml").read_text()
