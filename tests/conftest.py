from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.journal.store import Journal
from edge.workflow.config import Config
from tests import helpers


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
