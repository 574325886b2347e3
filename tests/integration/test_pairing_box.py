"""The box's side of pairing, with real processes: the login page shows the pairing code
while the box is unpaired (and only on a box), and `edge enroll` takes its one-time token
on stdin or from a file, so it never shows in `ps`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from edge.pairing import code_of_line
from tests.helpers import Registry, edge_cli, running_box

LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM3Z7eQv4Yl9x2kz0Vn8cT9kq1gkR0w2oVbq8pK4yYbM box"


def test_the_login_page_shows_the_pairing_code_until_the_box_is_paired(tmp_path: Path) -> None:
    system = tmp_path / "root"  # the box's / (EDGE_ROOT), as the image lays it out
    (system / "etc/ssh").mkdir(parents=True)
    (system / "etc/ssh/ssh_host_ed25519_key.pub").write_text(LINE + "\n")
    (system / "usr/local/sbin").mkdir(parents=True)
    (system / "usr/local/sbin/edge-pair").write_text("")
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    code = code_of_line(LINE)
    with running_box(home, env={"EDGE_ROOT": str(system)}) as box:
        page = httpx.get(box.url + "/login").text
        assert code in page and "not paired yet" in page
        arabic = httpx.get(box.url + "/login", headers={"accept-language": "ar"}).text
        assert code in arabic and "رمز الإقران" in arabic
        (system / "etc/edge").mkdir()
        (system / "etc/edge/paired.json").write_text(json.dumps({"paired_at": "x"}))
        assert code not in httpx.get(box.url + "/login").text
    shown = edge_cli(home, "pairing", "--json", env={"EDGE_ROOT": str(system), "PATH": ""})
    assert json.loads(shown.stdout)["paired"] is True


def test_a_laptop_or_dev_machine_shows_no_pairing_code(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home, env={"EDGE_ROOT": str(tmp_path / "nothing")}) as box:
        assert "not paired yet" not in httpx.get(box.url + "/login").text


def test_enroll_reads_the_token_from_stdin_or_a_file(tmp_path: Path, registry: Registry) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for home in (one, two):
        edge_cli(home, "init", "--demo")
    done = edge_cli(one, "enroll", registry.url, "--token-file", "-", input=registry.token())
    assert done.returncode == 0 and "Enrolled" in done.stdout
    token_file = tmp_path / "token"
    token_file.write_text(registry.token() + "\n")
    assert edge_cli(two, "enroll", registry.url, "--token-file", str(token_file)).returncode == 0
    missing = edge_cli(two, "enroll", registry.url, check=False)
    assert missing.returncode == 1 and "--token-file" in missing.stderr
