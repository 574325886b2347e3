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


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The data keys of the boxes this run made (unlocked boxes keep theirs in RAM, under
    /dev/shm, until a reboot) go with the run: those of the boxes whose homes are in this
    run's temporary folder (with xdist, each worker's own), and no others. Another run on the
    same machine keeps its boxes unlocked (a second `pytest` used to lock them mid-test)."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or factory._basetemp is None:  # no test made a temporary folder
        return
    helpers.forget_box_keys(factory.getbasetemp())


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
