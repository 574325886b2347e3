"""The locks the image is built from: current, verified against Debian's archive key, and
loud when the mirror no longer has a locked version or a cached file is not what the lock
says. These talk to deb.debian.org, as the build does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from image import debs, wheels

pytestmark = pytest.mark.image


@pytest.mark.parametrize("arch", debs.ARCHES)
def test_the_locks_are_made_from_todays_package_lists(arch: str) -> None:
    assert len(debs.read_lock(debs.image_set(arch))) > 150
    assert debs.read_lock(debs.tools_set())
    locked = wheels.read_lock(wheels.lock_path(arch), "run").read_text()
    assert "edge-box" not in locked and "--hash=sha256:" in locked and "\npip==" in locked


def test_an_index_not_signed_by_debians_key_stops_the_build(tmp_path: Path) -> None:
    """The same mirror, but trusting only keys Debian has retired: apt cannot verify the
    signature and the run stops (it never goes on with a warning, as mkosi did)."""
    retired = "/usr/share/keyrings/debian-archive-removed-keys.gpg"
    locked = debs.image_set("amd64")
    wrong = debs.Locked(
        locked.name, locked.arch, locked.inputs, locked.sources.replace(str(debs.KEYRING), retired)
    )
    assert retired in wrong.sources
    apt = debs.Apt(wrong, tmp_path / "apt")
    with pytest.raises(debs.LockError) as refused:
        apt.update()
    assert "NO_PUBKEY" in str(refused.value) or "not signed" in str(refused.value)


def fake_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str) -> debs.Locked:
    """A copy of image/ with one line of the amd64 lock edited."""
    copy = tmp_path / "image"
    shutil.copytree(debs.HERE / "lock", copy / "lock")
    shutil.copytree(debs.HERE / "packages", copy / "packages")
    shutil.copy(debs.SOURCES, copy / "sources.list")
    monkeypatch.setattr(debs, "HERE", copy)
    monkeypatch.setattr(debs, "SOURCES", copy / "sources.list")
    locked = debs.image_set("amd64")
    lines = locked.path.read_text().splitlines()
    lines = [line for line in lines if line.startswith(("#", "base-files "))]
    lines = [edit if line.startswith("base-files ") else line for line in lines]
    locked.path.write_text("\n".join(lines) + "\n")
    return locked


def test_a_locked_version_gone_from_the_mirror_stops_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = next(d for d in debs.read_lock(debs.image_set("amd64")) if d.name == "base-files")
    gone = real.line().replace(real.version, "11.1+deb11u0", 1)
    locked = fake_lock(tmp_path, monkeypatch, gone)
    with pytest.raises(debs.LockError) as refused:
        debs.fetch(locked, tmp_path / "cache")
    assert "no longer on the mirror: base-files 11.1+deb11u0" in str(refused.value)
    assert "make image-lock" in str(refused.value)


def test_a_cached_package_is_used_only_if_its_bytes_match_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = next(d for d in debs.read_lock(debs.image_set("amd64")) if d.name == "base-files")
    locked = fake_lock(tmp_path, monkeypatch, real.line())
    cache = tmp_path / "cache"
    cache.mkdir()
    # Right name and size, wrong bytes: apt itself would take it (it checks the size only).
    (cache / real.filename).write_bytes(b"\0" * real.size)
    debs.fetch(locked, cache)
    assert debs.sha256_of(cache / real.filename) == real.sha256
