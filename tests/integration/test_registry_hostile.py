"""The reference registry against hostile input and prying eyes, as a real process: a gzip
bomb to its one unauthenticated endpoint, and files only its own user may read."""

from __future__ import annotations

import gzip
import stat
import zlib
from pathlib import Path

import httpx

from tests.helpers import Registry, edge_cli, running_box
from tests.integration.test_sync import declare
from upstream_sync import protocol as p


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def gzip_bomb(decompressed_mib: int) -> bytes:
    """A gzip member of `decompressed_mib` MiB of zeros: about a thousandth of that on the wire."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    return b"".join([*(z.compress(chunk) for _ in range(decompressed_mib)), z.flush()])


def test_a_gzip_bomb_to_enroll_is_refused_without_decompressing_it(registry: Registry) -> None:
    headers = {"content-type": p.MEDIA_TYPE, p.H_PROTOCOL: p.PROTOCOL}
    before = peak_rss_mib(registry.process.pid)
    # 1 GiB of zeros in 1 MiB (refused for its size on the wire), and 48 MiB in 47 KiB (a
    # size an enrollment may have, refused once it inflates past what one may hold).
    for mib in (1024, 48):
        bomb = gzip_bomb(mib)
        assert len(bomb) < 1.1 * mib * 1024
        r = httpx.post(registry.url + "/v1/enroll", content=bomb, headers=headers, timeout=120)
        assert r.status_code == 413, r.text
    assert "larger than 65536 bytes once inflated" in r.json()["detail"]
    after = peak_rss_mib(registry.process.pid)
    assert after - before < 32, f"the registry grew from {before:.0f} to {after:.0f} MiB"
    # A real enrollment still goes through afterwards.
    ok = httpx.post(
        registry.url + "/v1/enroll",
        content=gzip.compress(b'{"token": "enr_x", "public_key": "00", "office_id": "o"}'),
        headers=headers,
    )
    assert ok.status_code == 403  # refused for the token, not for its size


def test_the_registry_s_files_are_its_own(tmp_path: Path, registry: Registry) -> None:
    box = tmp_path / "box"
    edge_cli(box, "init", "--demo")
    edge_cli(box, "enroll", registry.url, registry.token())
    with running_box(box) as b:
        declare(b.client("clerk"), "Sara")
    edge_cli(box, "sync")  # the registry has written: its WAL and shared memory exist
    home = registry.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    files = {f.name: stat.S_IMODE(f.stat().st_mode) for f in home.iterdir() if f.is_file()}
    assert {"registry.db", "registry.db-wal", "registry.key"} <= set(files)
    assert {n: m for n, m in files.items() if m & 0o077} == {}
