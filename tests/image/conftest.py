"""The OS image tests (`make image-test`): they build the image three times (amd64 twice, to
compare the bytes, and arm64 once), boot the amd64 twin in a container and the arm64 image
on QEMU, so they never run in `make test` (each module here is marked `image`, which
pyproject.toml leaves out by default).

Builds go to build/image-test/<name>/ with their log beside them. EDGE_IMAGE_REUSE=1 takes
the builds already there instead of building again (for working on the tests themselves;
CI never sets it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "image-test"
BUILD = ROOT / "image" / "build.sh"


def need_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the image tests run as root (mmdebstrap, loop devices, nspawn)")
        pytest.skip("the image tests run as root")


class Builds:
    """The three builds, started once: arm64 in the background from the start (it is the
    longest, and mostly waits on one emulated CPU), the two amd64 builds one after the other
    beside it."""

    def __init__(self) -> None:
        self.done: dict[str, threading.Event] = {}
        self.codes: dict[str, int] = {}
        self.lock = threading.Lock()

    CHAINS = (("arm64",), ("amd64-a", "amd64-b"))

    def start(self, name: str) -> None:
        """All builds at the first request; with EDGE_IMAGE_REUSE=1 only the one asked for."""
        with self.lock:
            lazy = os.environ.get("EDGE_IMAGE_REUSE") == "1"
            for chain in self.CHAINS:
                wanted = chain[: chain.index(name) + 1] if name in chain else ()
                todo = [n for n in (wanted if lazy else chain) if n not in self.done]
                if todo:
                    OUT.mkdir(parents=True, exist_ok=True)
                    for n in todo:
                        self.done[n] = threading.Event()
                    threading.Thread(target=self._run, args=(todo,), daemon=True).start()

    def _run(self, names: list[str]) -> None:
        for name in names:
            out = OUT / name
            if os.environ.get("EDGE_IMAGE_REUSE") == "1" and (out / "SHA256SUMS").is_file():
                self.codes[name] = 0
            else:
                with (OUT / f"{name}.log").open("w") as log:
                    env = {**os.environ, "VENV_PYTHON": sys.executable}
                    arch = name.split("-")[0]
                    done = subprocess.run(
                        [str(BUILD), arch, str(out)], stdout=log, stderr=subprocess.STDOUT, env=env
                    )
                self.codes[name] = done.returncode
            self.done[name].set()

    def get(self, name: str) -> Path:
        """The output folder of a finished build; the test fails with its log if it failed."""
        need_root()
        self.start(name)
        self.done[name].wait()
        if self.codes[name] != 0:
            log = (OUT / f"{name}.log").read_text()
            pytest.fail(f"building {name} failed:\n{log[-4000:]}")
        return OUT / name


BUILDS = Builds()


@pytest.fixture(scope="session")
def builds() -> Iterator[Builds]:
    yield BUILDS
