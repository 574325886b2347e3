"""Generated requests from the published OpenAPI description never produce a server error."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Box


@pytest.mark.parametrize("user", ["registrar", "clerk"])
def test_no_generated_request_gets_a_500(box: Box, user: str) -> None:
    cli = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    result = subprocess.run(
        [
            cli,
            "run",
            f"{box.url}/api/schema/openapi.json",
            "--checks",
            "not_a_server_error",
            # Its 503 is the answer by design: "not ready" (here: no worker runs).
            "--exclude-path",
            "/readyz",
            "--header",
            f"Authorization: Bearer {box.token(user)}",
            "--max-examples",
            "40",
            "--seed",
            "20261122",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    cases = re.search(r"Test cases:\s*\n\s*(\d+) generated, (\d+) passed(.*)", summary)
    assert cases, summary
    assert int(cases[1]) > 100 and cases[1] == cases[2] and "failed" not in cases[3], summary
