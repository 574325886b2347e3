"""The on-box programs: standard library only, built byte for byte the same every time,
the sshd drop-in accepted by sshd itself, and the small pieces of their logic."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from provisioning.onbox import boxconf, bundle, edge_pair, releases
from provisioning.onbox.layout import Layout, Refused, point

ONBOX = Path(bundle.__file__).parent


def test_the_on_box_programs_use_the_standard_library_only() -> None:
    allowed = set(sys.stdlib_module_names)
    for path in ONBOX.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] in allowed | {"__future__"}, f"{path.name}: {name}"


def test_the_programs_are_built_byte_for_byte_the_same() -> None:
    assert bundle.program("edge-release") == bundle.program("edge-release")
    assert bundle.program("edge-pair").startswith(b"#!/usr/bin/python3\n")


def test_the_image_command_installs_every_piece(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "provisioning.onbox", str(tmp_path)], check=True,
                   capture_output=True)  # fmt: skip
    for rel, (data, mode) in bundle.files().items():
        path = tmp_path / rel
        assert path.read_bytes() == data and path.stat().st_mode & 0o777 == mode
    out = subprocess.run([str(tmp_path / "usr/local/sbin/edge-release"), "status", "--no-health"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    answer = json.loads(out.stdout)
    assert answer["ok"] and answer["root"] == str(tmp_path)  # found from where it lives
    assert answer["tools"]["edge-release"] == bundle.sha256(bundle.program("edge-release"))


def test_sshd_accepts_the_drop_in(tmp_path: Path) -> None:
    if not os.path.exists("/usr/sbin/sshd") or shutil.which("ssh-keygen") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("needs openssh-server")
        pytest.skip("needs openssh-server")
    # sshd -t wants its privilege separation directory; /run is empty after a boot and,
    # with tests on several workers, the fleet tests may not have made it yet.
    Path("/run/sshd").mkdir(exist_ok=True)
    key = tmp_path / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = tmp_path / "sshd_config"
    config.write_text(bundle.DROPIN.read_text().replace("/etc/ssh/ssh_host_ed25519_key", str(key)))
    checked = subprocess.run(["/usr/sbin/sshd", "-t", "-f", str(config)], capture_output=True,
                             text=True)  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    text = bundle.DROPIN.read_text()
    for line in (
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "AuthorizedKeysCommandUser nobody",
    ):
        assert f"\n{line}\n" in text


def test_a_pairing_key_is_let_in_only_while_unpaired_and_the_window_is_open(
    tmp_path: Path,
) -> None:
    lay = Layout(tmp_path)
    key = "AAAAC3NzaC1lZDI1NTE5AAAAIM3Z7eQv4Yl9x2kz0Vn8cT9kq1gkR0w2oVbq8pK4yYbM"

    def line(user: str = "root") -> str:
        from contextlib import redirect_stdout
        from io import StringIO

        out = StringIO()
        with redirect_stdout(out):
            edge_pair.keys(lay, user, "ssh-ed25519", key)
        return out.getvalue()

    assert line() == ""  # no window
    assert edge_pair.open_window(lay, 60)["open"]
    granted = line()
    assert granted.startswith('restrict,from="10.0.0.0/8,') and granted.endswith(f" {key}\n")
    assert f'command="{tmp_path}/usr/local/sbin/edge-pair pair --key ssh-ed25519 {key}"' in granted
    assert line("edge") == ""  # root only
    window = json.loads(lay.window.read_text())
    window["until"] = time.clock_gettime(time.CLOCK_BOOTTIME) - 1
    lay.window.write_text(json.dumps(window))
    assert line() == ""  # closed
    edge_pair.open_window(lay, 60)
    lay.state.mkdir(parents=True)
    lay.paired.write_text(json.dumps({"officer_key": "SHA256:x"}))
    assert line() == "" and not edge_pair.open_window(lay, 60)["open"]  # paired: never again


def test_settings_are_written_as_toml_the_box_reads() -> None:
    text = boxconf.toml_text({"office_name": 'Clinic "North"\\1', "port": 8080, "tz": "Asia/Gaza"})
    assert tomllib.loads(text) == {
        "office_name": 'Clinic "North"\\1',
        "port": 8080,
        "tz": "Asia/Gaza",
    }
    with pytest.raises(Refused, match="only text and whole numbers"):
        boxconf.toml_text({"debug": True})


def test_a_manifest_must_name_its_wheels_and_carry_pip() -> None:
    sha = "0" * 64
    app = "edge_box-1.0-py3-none-any.whl"
    good = {"version": "1.0", "app": app, "wheels": {app: sha, "pip-26-py3-none-any.whl": sha}}
    assert releases.check_manifest(good) is good
    for broken, why in (
        ({**good, "version": "../x"}, "not a version"),
        ({**good, "app": "other.whl"}, "app wheel"),
        ({**good, "wheels": {"edge_box-1.0-py3-none-any.whl": sha}}, "pip wheel"),
        ({**good, "wheels": {"../evil.whl": sha}}, "not a wheel name"),
    ):
        with pytest.raises(Refused, match=why):
            releases.check_manifest(broken)


def test_gc_keeps_current_previous_and_what_they_use(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    shas = {v: f"{i:064x}" for i, v in enumerate(["1", "2", "3", "4", "5"], 1)}
    for v, sha in shas.items():
        app = f"edge_box-{v}-py3-none-any.whl"
        manifest = {
            "version": v,
            "app": app,
            "wheels": {app: sha, f"dep-{v}-py3-none-any.whl": sha},
        }
        release = lay.releases / v
        release.mkdir(parents=True)
        (release / "edge-release.json").write_text(json.dumps(manifest))
        (release / ".complete").write_text("x")
        os.utime(release, (int(v), int(v)))
        (lay.wheels / sha).mkdir(parents=True)
        (lay.deps / releases.deps_key(manifest)).mkdir(parents=True)
    point(lay.current, lay.releases / "2")
    point(lay.previous, lay.releases / "1")
    done = releases.gc(lay, keep=3)
    assert done["kept"] == ["1", "2", "5"] and done["removed"] == ["3", "4"]
    assert sorted(p.name for p in lay.wheels.iterdir()) == sorted([shas["1"], shas["2"], shas["5"]])
    assert len(list(lay.deps.iterdir())) == 3
