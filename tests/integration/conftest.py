from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Box, edge_cli, running_box


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """A demo box (demo users, dev header allowed) served by a real process."""
    home: Path = tmp_path_factory.mktemp("box")
    edge_cli(home, "init", "--demo", "--office-name", "Test Clinic")
    with running_box(home) as b:
        yield b
