"""`/healthz`, `/readyz` and `/metrics` of a real box, with and without its worker."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import httpx

from tests.helpers import edge_cli, running_box, start_registry, stop_process
from tests.integration.test_sync import declare, start_worker, wait_for


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, f"{name} missing"
    return float(match.group(1))


def test_ready_only_with_a_worker_and_room_on_disk(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home) as box:
        assert httpx.get(box.url + "/healthz").json() == {"status": "ok"}
        r = httpx.get(box.url + "/readyz")
        assert r.status_code == 503
        assert r.json() == {
            "status": "not ready",
            "checks": {"database": True, "disk": True, "worker": False, "pushing": True},
        }
        worker = start_worker(box)
        try:
            assert wait_for(lambda: httpx.get(box.url + "/readyz").status_code == 200, 20)
        finally:
            worker.send_signal(signal.SIGINT)
            worker.wait(timeout=20)
    full = {"EDGE_DISK_MIN_FREE_MB": str(10**9)}  # a petabyte: this disk is "full"
    with running_box(home, env={**os.environ, **full}) as box:
        r = httpx.get(box.url + "/readyz")
        assert r.status_code == 503 and r.json()["checks"]["disk"] is False


def test_metrics_tell_what_waits_and_whether_the_registry_answers(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    registry = start_registry(tmp_path / "registry")
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    edge_cli(home, "enroll", registry.url, registry.token())
    with running_box(home) as box:
        text = httpx.get(box.url + "/metrics").text
        assert metric(text, "edge_registry_reachable") == -1
        declare(box.client("clerk"), "Sara")
        stop_process(registry.process)
        edge_cli(home, "sync", check=False)
        text = httpx.get(box.url + "/metrics").text
        assert metric(text, "edge_actions_waiting") == 2
        assert metric(text, "edge_oldest_waiting_action_age_seconds") > 0
        assert metric(text, "edge_registry_reachable") == 0
        assert metric(text, "edge_last_push_success_timestamp_seconds") == 0
        assert metric(text, "edge_database_bytes") > 0 and metric(text, "edge_disk_free_bytes") > 0
        assert metric(text, "edge_http_request_duration_seconds_count") >= 3
        assert 'edge_http_request_duration_seconds_bucket{le="+Inf"}' in text
        assert "Sara" not in text  # no personal data


def test_metrics_can_require_an_admins_token(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home, env={**os.environ, "EDGE_METRICS_ACCESS": "token"}) as box:
        assert httpx.get(box.url + "/metrics").status_code == 401
        clerk = edge_cli(home, "users", "token", "clerk", "--name", "x").stdout.strip().split()[-1]
        admin = edge_cli(home, "users", "token", "admin", "--name", "x").stdout.strip().split()[-1]
        auth = {"Authorization": f"Bearer {clerk}"}  # a valid token, the wrong role
        assert httpx.get(box.url + "/metrics", headers=auth).status_code == 403
        auth = {"Authorization": f"Bearer {admin}"}
        assert httpx.get(box.url + "/metrics", headers=auth).status_code == 200


def test_the_settings_files_log_level_reaches_every_logger(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    with (home / "edge.toml").open("a") as f:
        f.write('log_level = "debug"\n')
    env = {k: v for k, v in os.environ.items() if k != "EDGE_LOG_LEVEL"}
    with running_box(home, env=env) as box:
        httpx.get(box.url + "/healthz")
    assert re.search(
        r"^DEBUG edge\.http \[req-\w+\] GET /healthz", (home / "serve.log").read_text(), re.M
    )
    quiet = edge_cli(home, "verify", env={**env, "EDGE_LOG_LEVEL": "error"})
    assert "INFO" not in quiet.stderr


def test_log_lines_carry_level_logger_and_request_or_task(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    registry = start_registry(tmp_path / "registry")
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    edge_cli(home, "enroll", registry.url, registry.token())
    stop_process(registry.process)  # so the login check and the worker log why they failed
    with running_box(home) as box:
        assert box.client("clerk").get("/api/v1/auth/me").status_code == 200
        declare(box.client("clerk"), "Sara Personal")
        worker = start_worker(box)
        try:
            assert wait_for(lambda: "push of" in (home / "worker.log").read_text(), 20)
        finally:
            worker.send_signal(signal.SIGINT)
            worker.wait(timeout=20)
    line = re.compile(
        r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+ \[(-|req-[0-9a-f]{8}|task-[0-9a-f]{8})\] "
    )
    serve_log = (home / "serve.log").read_text().splitlines()
    worker_log = (home / "worker.log").read_text().splitlines()
    for text in serve_log + worker_log:
        assert line.match(text), text
    assert any("[req-" in t and "login check" in t for t in serve_log)
    assert any("[task-" in t and "push of" in t for t in worker_log)
    assert not any("Sara" in t or "Personal" in t for t in serve_log + worker_log)
