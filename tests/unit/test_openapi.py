"""The API's OpenAPI description tells integrators what errors look like and what /metrics is."""

from __future__ import annotations

from dataclasses import replace

from edge.app import create_app
from edge.settings import Settings
from edge.workflow.config import load_config


def test_every_operation_documents_its_problem_answers_and_metrics_is_text() -> None:
    app = create_app(replace(Settings(), box_id="b", office_id="o"), load_config())
    paths = app.openapi_schema.to_schema()["paths"]
    for path, methods in paths.items():
        for method, op in methods.items():
            errors = {code: r for code, r in op["responses"].items() if code.startswith("4")}
            assert {"401", "403", "404", "422"} <= set(errors), f"{method} {path}"
            for answer in errors.values():
                assert list(answer["content"]) == ["application/problem+json"], f"{method} {path}"
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
