from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.journal.store import Journal
from edge.workflow.config import Config
from tests import helpers
from tests.helpers import Registry, start_registry, stop_process

# Every box the tests make writes a key slot per user (a demo box: five), each an Argon2id at
# the production cost (64 MiB, 3 passes) would add seconds to every `edge init`: the tests'
# boxes (their processes inherit this) use a light one. A slot keeps its own parameters, so
# nothing else changes; tests/unit/test_keys.py and docs/security.md cover the real cost.
os.environ.setdefault("EDGE_KEYSLOT_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("EDGE_KEYSLOT_ARGON2_ITERATIONS", "1")


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
