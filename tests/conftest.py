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
def registry(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Registry]:
    """A real reference registry process with its own database, for the test (its
    environment from an indirect parameter, if any)."""
    home = tmp_path / "registry"
    home.mkdir()
    reg = start_registry(home, env=getattr(request, "param", None))
    yield reg
    stop_process(reg.process)
