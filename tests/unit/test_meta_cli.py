"""``make meta`` (tools/nexus_local/meta_cli.py): Meta's compliance callbacks by hand. What it
posts verifies with the product's own parser and the stack's secret; the secret is the
running stack's (env.json), else the environment's, else secrets.json; the answer is
printed and sets the exit status."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from nexus.errors import Unauthorized
from nexus.meta import signed_request
from nexus_local import meta_cli
from nexus_local.httpd import LocalHTTPServer

SECRET = "meta-app-secret-for-the-cli-0123456789"


@dataclass
class FakeApi:
    """A stand-in HTTP API: answers ``status`` with ``answer`` and keeps what it received."""

    url: str = ""
    status: int = 200
    answer: object = field(default_factory=lambda: {"integrations": 2})
    received: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def stack_api() -> Iterator[FakeApi]:
    fake = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: bytes) -> None:
            fake.received.append((self.command, self.path, dict(self.headers), body))
            raw = json.dumps(fake.answer).encode()
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            self._answer(self.rfile.read(int(self.headers["Content-Length"])))

        def do_GET(self) -> None:
            self._answer(b"")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = LocalHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEXUS_LOCAL_DIR", str(tmp_path))
    monkeypatch.delenv("META_APP_SECRET", raising=False)
    (tmp_path / "secrets.json").write_text(json.dumps({"META_APP_SECRET": SECRET}))
    return tmp_path


def test_the_signed_request_verifies_with_the_secret_and_names_the_user() -> None:
    value = meta_cli.signed_request(SECRET, "5050", issued_at=1_790_000_000)
    assert signed_request.parse(value, SECRET) == signed_request.SignedRequest(
        user_id="5050", issued_at=1_790_000_000
    )
    with pytest.raises(Unauthorized):
        signed_request.parse(value, "another secret")


def test_the_form_carries_one_signed_request_issued_now() -> None:
    body = meta_cli.form(SECRET, "6060")
    parsed = signed_request.parse(signed_request.from_form(body), SECRET)
    assert parsed.user_id == "6060"
    assert parsed.issued_at is not None and parsed.issued_at > 1_700_000_000


def test_the_secret_is_the_running_stacks_then_the_environments_then_the_files(
    data_dir: Path,
) -> None:
    assert meta_cli.app_secret({"NEXUS_LOCAL_DIR": str(data_dir)}) == SECRET
    env = {"NEXUS_LOCAL_DIR": str(data_dir), "META_APP_SECRET": "from-the-shell"}
    assert meta_cli.app_secret(env) == "from-the-shell"
    recorded = {"Parameters": {"META_APP_SECRET": "the-stacks-own"}}
    (data_dir / "env.json").write_text(json.dumps(recorded))
    assert meta_cli.app_secret(env) == "the-stacks-own"


def test_no_secret_anywhere_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(meta_cli.CliError, match="no META_APP_SECRET"):
        meta_cli.app_secret({"NEXUS_LOCAL_DIR": str(tmp_path / "none")})


@pytest.mark.parametrize(
    ("command", "path"),
    [
        ("deauthorize", "/webhooks/meta/deauthorize"),
        ("data-deletion", "/webhooks/meta/data-deletion"),
    ],
)
def test_a_callback_is_posted_as_a_signed_form_and_its_answer_printed(
    stack_api: FakeApi, data_dir: Path, capsys: pytest.CaptureFixture[str], command: str, path: str
) -> None:
    assert meta_cli.main(["--api", stack_api.url, command, "--user", "5050"]) == 0
    [(method, got, headers, body)] = stack_api.received
    assert (method, got) == ("POST", path)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in headers
    assert signed_request.parse(signed_request.from_form(body), SECRET).user_id == "5050"
    out = capsys.readouterr().out
    assert f"POST {stack_api.url}{path} (Meta user 5050) -> 200" in out
    assert '"integrations": 2' in out


def test_a_refusal_is_printed_and_exits_1(
    stack_api: FakeApi, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_api.status, stack_api.answer = (
        401,
        {"detail": "The signed_request's signature does not match."},
    )
    assert meta_cli.main(["--api", stack_api.url, "deauthorize", "--user", "5050"]) == 1
    out = capsys.readouterr().out
    assert "-> 401" in out and "does not match" in out


def test_status_gets_the_public_page(
    stack_api: FakeApi, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_api.answer = {"confirmation_code": "ab12", "status": "complete"}
    assert meta_cli.main(["--api", stack_api.url, "status", "ab12"]) == 0
    assert [(m, p) for m, p, _, _ in stack_api.received] == [("GET", "/meta/data-deletion/ab12")]
    assert '"status": "complete"' in capsys.readouterr().out


def test_no_stack_is_a_one_line_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    closed = LocalHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_address[1]}"
    closed.server_close()
    assert meta_cli.main(["--api", url, "deauthorize", "--user", "5050"]) == 1
    assert "cannot reach the HTTP API" in capsys.readouterr().err
