"""Password guessing: the lockout engages, and an unknown username cannot be told from a
wrong password — not by the answer, and not by how long the answer takes (measured)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import httpx

from edge.commands.init import DEMO_PASSWORD
from tests.helpers import edge_cli, running_box


def attempt(url: str, username: str, password: str) -> tuple[int, dict[str, object], float]:
    start = time.perf_counter()
    r = httpx.post(url + "/api/v1/auth/login", json={"username": username, "password": password})
    return r.status_code, r.json(), time.perf_counter() - start


def test_lockout_engages_and_the_admin_can_unlock(tmp_path: Path) -> None:
    edge_cli(tmp_path, "init", "--demo")
    with running_box(tmp_path, env={"EDGE_LOCKOUT_AFTER": "3"}) as box:
        # The try before the one that locks warns; a username the box does not know gets
        # the very same answers, so they tell nobody which usernames exist.
        answers = {}
        for name in ("agent", "nobody-here"):
            answers[name] = [attempt(box.url, name, "guess guess guess")[:2] for _ in range(3)]
            answers[name].append(attempt(box.url, name, DEMO_PASSWORD)[:2])
        assert answers["agent"] == answers["nobody-here"]
        wrong = "The username or password is not right."
        said = [str(b["detail"]) for _, b in answers["agent"][:3]]
        assert said[:2] == [wrong, f"{wrong} One more wrong try locks this account for a while."]
        assert said[2].startswith("Too many wrong passwords: this account is locked")  # at once
        status, body = answers["agent"][3]
        assert status == 401 and "locked" in str(body["detail"])
        assert "local admin can unlock" in str(body["detail"])
        edge_cli(tmp_path, "users", "unlock", "agent")
        assert attempt(box.url, "agent", DEMO_PASSWORD)[0] == 200


def test_unknown_user_and_wrong_password_take_the_same_time(tmp_path: Path) -> None:
    edge_cli(tmp_path, "init", "--demo")
    # No lockout during the measurement: it would change what is being measured.
    with running_box(tmp_path, env={"EDGE_LOCKOUT_AFTER": "100"}) as box:
        attempt(box.url, "warm", "up up up up")
        unknown, wrong = [], []
        for i in range(30):  # interleaved, so drift on a shared machine hits both alike
            s1, b1, t1 = attempt(box.url, f"nobody{i}", "guess guess guess")
            s2, b2, t2 = attempt(box.url, "registrar", "guess guess guess")
            assert (s1, b1) == (s2, b2)
            unknown.append(t1)
            wrong.append(t2)
    m_unknown, m_wrong = statistics.median(unknown), statistics.median(wrong)
    spread = statistics.median(abs(a - m_wrong) for a in wrong)  # the noise of one series
    print(
        f"median unknown user {m_unknown * 1000:.1f} ms, wrong password "
        f"{m_wrong * 1000:.1f} ms, noise (MAD) {spread * 1000:.1f} ms"
    )
    # Without the decoy check an unknown user would answer ~60 ms sooner (no Argon2id).
    assert m_unknown > 0.5 * m_wrong
    assert abs(m_unknown - m_wrong) <= max(3 * spread, 0.1 * m_wrong), (m_unknown, m_wrong)
