from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.journal.store import Journal
from edge.workflow.config import Config
from tests import helpers
from tests.helpers import Registry, start_registry, stop_process


@pytest.fixture(scope="session")
def cfg() -> Config:
    return helpers.config()


@pytest.fixture
def journal(tmp_path: Path, cfg: Config) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.db", cfg)
    try:
        yield j
    finally:
        j.close()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A real reference registry process with its own database, for the test."""
    home = tmp_path / "registry"
    home.mkdir()
    reg = start_registry(home)
    yield reg
    stop_process(reg.process)
