from __future__ import annotations

import os
import shutil
import time
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


_STARTED = pytest.StashKey[float]()

# The longest modules, started first: `make test` runs the suite on several pytest-xdist
# workers, and a long module handed out last would leave the other workers idle meanwhile.
LONG_FIRST = (
    "tests/integration/test_fleet.py",
    "tests/unit/test_engine_properties.py",
    "tests/integration/test_api_fuzz.py",
    "tests/e2e/test_shared_pc.py",
    "tests/integration/test_mdns.py",
    "tests/integration/test_sync_chaos.py",
    "tests/integration/test_fleet_ca.py",
)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = time.time()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The data keys of the boxes this run made (unlocked boxes keep theirs in RAM, under
    /dev/shm, until a reboot): gone with the run, by the process that ran it (with xdist, the
    controller, once every worker is done)."""
    if hasattr(session.config, "workerinput"):
        return
    started = session.config.stash.get(_STARTED, time.time())
    for folder in Path("/dev/shm").glob(f"edge-{os.getuid()}-*"):
        try:
            if folder.stat().st_mtime >= started - 1:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:
            continue


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long modules first (stable: the order within a module stays). `make test` hands out
    whole files (`--dist loadfile`): the tests of a file may share a module-scoped fixture
    (one box, an office of sshd boxes) and build on each other's state."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONG_FIRST.index(path) if path in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)


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
