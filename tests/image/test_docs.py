"""docs/image.md against the build: the card layout, the locks and the checks it names."""

from __future__ import annotations

import re

import pytest

from image import check_rootfs
from tests.helpers import ROOT

pytestmark = pytest.mark.image
DOC = (ROOT / "docs" / "image.md").read_text()
ASSEMBLE = (ROOT / "image" / "assemble.sh").read_text()


def mib(name: str) -> int:
    found = re.search(rf"\b{name}_MIB=(\d+)", ASSEMBLE)
    assert found, name
    return int(found.group(1))


def test_the_card_layout_in_the_docs_is_the_one_built() -> None:
    assert f"0x{check_rootfs.DISK_ID}" in DOC
    assert f"| {mib('FIRMWARE')} MiB |" in DOC
    assert f"| {mib('ROOT') // 1024} GiB |" in DOC
    assert f"| {mib('DATA')} MiB, grown |" in DOC


def test_the_docs_name_every_lock_file() -> None:
    for lock in sorted((ROOT / "image" / "lock").iterdir()):
        stem = re.sub(r"-(amd64|arm64)\.", "-{amd64,arm64}.", lock.name)
        assert lock.name in DOC or stem in DOC, lock.name
