"""Entry modules follow one pattern, and stay cheap per request."""

from __future__ import annotations

import ast
from pathlib import Path

from nexus_local.template import parse

ROOT = Path(__file__).resolve().parents[2]


def _api_modules() -> list[Path]:
    app = parse()
    return sorted({app.functions[r.function_id].module_path for r in app.routes})


def test_api_entry_modules_and_nexus_http_keep_real_annotations() -> None:
    """Powertools reads the type hints of a route and of its Depends() on every request; with
    `from __future__ import annotations` each read evaluates strings (~0.2 ms a request)."""
    for path in [*_api_modules(), ROOT / "layers/shared/nexus/http.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        futures = [
            alias.name
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module == "__future__"
            for alias in node.names
        ]
        assert "annotations" not in futures, path


def test_protected_routes_learn_the_caller_only_through_the_caller_dependency() -> None:
    """No entry module reads the authorizer context itself (nexus.http.Caller does)."""
    for path in _api_modules():
        source = path.read_text(encoding="utf-8")
        assert "current_event" not in source or "webhooks" in source, path
        assert "authorizer" not in source, path
