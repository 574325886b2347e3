"""Upgrading a fleet: 20 boxes (real sshd, each in its own network namespace, the real box
software running under its units) upgraded with `edge-fleet apply`, one at a time and then
in parallel, in the same run.

Each upgrade is the real thing: the new app wheel uploaded (the dependencies are already on
the boxes), the release installed beside the old one, the journal backed up, the switch,
both services restarted and the health gate on each box's own /readyz. Measured: the wall
time of each run, each box's time (median), and the bytes that reached each box's sshd
over its link (nftables counters in its namespace: IP packets, SSH and TCP overhead
included).

Setup (not measured): boxes made as an image makes them, paired, and started on 0.1.0.
The dependency layer is built once and hard-linked into the other boxes to save setup time.
Needs root, iproute2, nftables and openssh-server (as the tests do). BENCH_FLEET_BOXES
changes the number of boxes. Prints the figures, then one JSON object as the last line.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fleet import wheelhouse  # noqa: E402
from tests.fleet.boxes import TestBox  # noqa: E402
from tests.fleet.office import Office  # noqa: E402

BOXES = int(os.environ.get("BENCH_FLEET_BOXES", "20"))
RUNS = [("one at a time", 1, "0.1.1"), ("8 at a time (default)", 8, "0.1.2"),
        (f"all {BOXES} at once", BOXES, "0.1.3")]  # fmt: skip


def image_install(box: TestBox, wheels: Path, first: TestBox | None) -> None:
    """What the image build does (`edge-release install`, `switch --offline`)."""
    if first is not None:  # share the dependency layer and the wheels, as hard links
        for part in ("deps", "wheels"):
            target = box.root / "opt/edge" / part
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-al", str(first.root / "opt/edge" / part), str(target)],
                           check=True)  # fmt: skip
    program = str(box.root / "usr/local/sbin/edge-release")
    for args in (["install", "--wheelhouse", str(wheels), "--units", str(ROOT / "systemd")],
                 ["switch", "0.1.0", "--offline"]):  # fmt: skip
        done = subprocess.run([program, *args], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"image install on box {box.index}: {done.stdout}{done.stderr}")


def upgrade(office: Office, parallel: int, version: str) -> dict[str, object]:
    office.add_release(version)
    office.edit(release=version)
    before = office.received()
    start = time.monotonic()
    code, result = office.fleet_json("apply", "--parallel", str(parallel))
    wall = time.monotonic() - start
    received = [a - b for a, b in zip(office.received(), before, strict=True)]
    if code != 0:
        raise SystemExit(f"apply to {version} failed: {json.dumps(result)[-2000:]}")
    per_box = [b["seconds"] for b in result["boxes"]]
    return {
        "parallel": parallel,
        "wall_s": round(wall, 1),
        "per_box_median_s": round(statistics.median(per_box), 1),
        "per_box_max_s": round(max(per_box), 1),
        "bytes_per_box_median": int(statistics.median(received)),
        "bytes_per_box_max": max(received),
        "payload_per_box_median": int(statistics.median(b["sent"] for b in result["boxes"])),
    }


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("bench/fleet.py needs root (network namespaces, sshd)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.monotonic()
        wheels = tmp / "image"
        wheels.mkdir()
        for wheel in [*wheelhouse.dependencies(), wheelhouse.app("0.1.0")]:
            (wheels / wheel.name).symlink_to(wheel)
        for version in ("0.1.1", "0.1.2", "0.1.3"):
            wheelhouse.app(version)
        office = Office(tmp, BOXES, tag=f"{os.getpid() % 100000}b")
        try:
            first, *others = office.boxes
            image_install(first, wheels, None)
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda b: image_install(b, wheels, first), others))
            for box in office.boxes:
                done = office.fleet("pair", box.address, "--code", box.code())
                if done.returncode:
                    raise SystemExit(done.stderr)
            office.add_release("0.1.0")
            office.edit(release="0.1.0", health_timeout=300)
            code, result = office.fleet_json("apply", "--parallel", "4")
            if code:
                raise SystemExit(f"first start failed: {json.dumps(result)[-2000:]}")
            print(f"setup: {BOXES} boxes paired and running 0.1.0 in {time.monotonic() - t0:.0f} s")
            figures: dict[str, object] = {"boxes": BOXES}
            for label, parallel, version in RUNS:
                r = upgrade(office, parallel, version)
                figures[f"parallel_{parallel}"] = r
                print(
                    f"{label}: {BOXES} boxes upgraded in {r['wall_s']} s wall; per box median "
                    f"{r['per_box_median_s']} s (max {r['per_box_max_s']} s); bytes reaching "
                    f"each box median {r['bytes_per_box_median']:,} (max "
                    f"{r['bytes_per_box_max']:,}; file payload {r['payload_per_box_median']:,})"
                )
        finally:
            office.close()
    serial = figures["parallel_1"]["wall_s"]  # type: ignore[index]
    for _label, parallel, _v in RUNS[1:]:
        wall = figures[f"parallel_{parallel}"]["wall_s"]  # type: ignore[index]
        figures[f"speedup_{parallel}_vs_serial"] = round(serial / wall, 2)
        print(f"speed-up with {parallel} at a time: {serial / wall:.2f}x one at a time")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
