"""The pairing code: short, unambiguous, the same on the box and in the fleet tool, typed
back forgivingly; shown only by an unpaired box."""

from __future__ import annotations

import json
import re
from pathlib import Path

from edge.pairing import ALPHABET, code_of_key, code_of_line, code_to_show, normalize, state

LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM3Z7eQv4Yl9x2kz0Vn8cT9kq1gkR0w2oVbq8pK4yYbM box"


def test_the_code_is_twelve_unambiguous_characters_in_three_groups() -> None:
    code = code_of_line(LINE)
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", code)
    assert set(code.replace("-", "")) <= set(ALPHABET)


def test_the_code_is_stable_across_versions() -> None:
    # The box's console, its login page, the image's labels and every fleet tool must agree:
    # changing the derivation is a breaking change.
    assert code_of_line(LINE) == "0T37-TQ8B-H17E"


def test_a_different_key_gives_a_different_code() -> None:
    assert code_of_key(b"one") != code_of_key(b"two")


def test_codes_are_typed_back_forgivingly() -> None:
    code = code_of_line(LINE)
    assert normalize(code.lower().replace("-", " ")) == code
    assert normalize("o1l0-0000-iiii") == "0110-0000-1111"


def test_only_an_unpaired_box_shows_its_code(tmp_path: Path) -> None:
    (tmp_path / "etc/ssh").mkdir(parents=True)
    (tmp_path / "etc/ssh/ssh_host_ed25519_key.pub").write_text(LINE + "\n")
    assert code_to_show(tmp_path) is None  # a laptop or a dev machine: not a box
    (tmp_path / "usr/local/sbin").mkdir(parents=True)
    (tmp_path / "usr/local/sbin/edge-pair").write_text("")
    assert code_to_show(tmp_path) == code_of_line(LINE)
    (tmp_path / "etc/edge").mkdir()
    marker = {"paired_at": "2026-12-01T10:00:00Z", "officer": "SHA256:x amina@laptop"}
    (tmp_path / "etc/edge/paired.json").write_text(json.dumps(marker))
    assert code_to_show(tmp_path) is None
    now = state(tmp_path)
    assert now.paired and now.officer == "SHA256:x amina@laptop"
