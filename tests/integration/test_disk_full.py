"""A full disk, on a small filesystem the test mounts: the box keeps serving reads, refuses
new actions with a clear message, and what it wrote before stays intact."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import BIRTH, edge_cli, running_box
from tests.integration.test_sync import declare


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the disk-full test needs root to mount a small filesystem")
        pytest.skip("needs root to mount a small filesystem")
    where = tmp_path / "small"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of the filesystem."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def test_a_full_disk_refuses_new_actions_clearly_and_keeps_serving(small_disk: Path) -> None:
    home = small_disk / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home) as box:
        clerk = box.client("clerk")
        kept = [declare(clerk, name) for name in ("Sara", "Omar")]
        filler = fill(small_disk)
        refused = []
        for _ in range(5):
            r = clerk.post("/api/v1/records", json={"event_type": "birth", "declaration": BIRTH})
            refused.append(r)
        assert all(r.status_code == 507 for r in refused), [r.status_code for r in refused]
        problem = refused[0].json()
        assert problem["title"] == "The box's storage is full"
        assert "Everything saved before is safe" in problem["detail"]
        # Reads go on: the records, the workqueues, the pages.
        for rid in kept:
            assert clerk.get(f"/api/v1/records/{rid}").status_code == 200
        assert clerk.get("/api/v1/workqueues/my-drafts/records").status_code == 200
        assert clerk.get(f"/records/{kept[0]}").status_code == 200
        ready = httpx.get(box.url + "/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["disk"] is False
        # Space back: work goes on where it stopped.
        filler.unlink()
        assert declare(clerk, "Lina")
    check = edge_cli(home, "verify")
    assert "OK: 6 actions" in check.stdout  # two declared before, one after; none damaged
