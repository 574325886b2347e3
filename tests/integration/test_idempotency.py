"""A write retried after its answer was lost is answered with what the first did, never done
twice: the Idempotency-Key of the API, kept with the action in its transaction (so also
across a kill of the box), against a real box process."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx

from tests.helpers import BIRTH, edge_cli, journal_conn, running_box, start_box, stop_box


def count(home: Path, sql: str) -> int:
    conn = journal_conn(home)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def test_a_retried_write_is_answered_with_the_first(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home) as box:
        clerk = box.client("clerk")
        key = {"Idempotency-Key": "create-0001"}
        first = clerk.post("/api/v1/records", json={"event_type": "birth"}, headers=key)
        again = clerk.post("/api/v1/records", json={"event_type": "birth"}, headers=key)
        assert first.status_code == again.status_code == 201
        assert again.json()["record"]["id"] == first.json()["record"]["id"]
        assert again.headers.get("idempotent-replayed") == "true"
        assert "idempotent-replayed" not in first.headers
        rid = first.json()["record"]["id"]
        declare = {"type": "DECLARE", "declaration": BIRTH}
        url = f"/api/v1/records/{rid}/actions"
        key = {"Idempotency-Key": "declare-0001"}
        a = clerk.post(url, json=declare, headers=key)
        b = clerk.post(url, json=declare, headers=key)
        assert a.json()["action"]["id"] == b.json()["action"]["id"]
        # The same key for something else is a mistake, said plainly; nothing is done.
        other = clerk.post(url, json={"type": "ASSIGN"}, headers=key)
        assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
        # Keys are per user: another user's same key is another request.
        agent = box.client("agent")
        mine = agent.post("/api/v1/records", json={"event_type": "birth"}, headers=key)
        assert mine.status_code == 201 and mine.json()["record"]["id"] != rid
        # Two presses at the same moment: one record.
        key = {"Idempotency-Key": "double-0001"}
        answers: list[httpx.Response] = []

        def press(c: httpx.Client) -> None:
            answers.append(c.post("/api/v1/records", json={"event_type": "death"}, headers=key))

        presses = [threading.Thread(target=press, args=(box.client("clerk"),)) for _ in range(4)]
        for t in presses:
            t.start()
        for t in presses:
            t.join()
        assert len(answers) == 4 and len({r.json()["record"]["id"] for r in answers}) == 1
    assert count(home, "SELECT COUNT(*) FROM records WHERE event_type = 'death'") == 1
    assert count(home, "SELECT COUNT(*) FROM actions WHERE type = 'DECLARE'") == 1


def test_a_kill_between_the_commit_and_the_answer_loses_nothing_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    box = start_box(home)
    clerk = box.client("clerk")
    key = {"Idempotency-Key": "before-the-kill"}
    first = clerk.post("/api/v1/records", json={"event_type": "birth"}, headers=key)
    assert first.status_code == 201
    stop_box(box, signal.SIGKILL)  # as if the answer had been cut off by the kill
    with running_box(home) as again:
        c = again.client("clerk")
        retry = c.post("/api/v1/records", json={"event_type": "birth"}, headers=key)
        assert retry.status_code == 201
        assert retry.json()["record"]["id"] == first.json()["record"]["id"]
    assert count(home, "SELECT COUNT(*) FROM records") == 1
