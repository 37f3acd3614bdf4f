"""Where a running local stack listens, recorded in its data folder so that the other tools
(``make ops ARGS=--local ...``, ``make walkthrough``, ``make invoke``) find it on whatever
ports it was started.

``make local`` writes ``<data dir>/stack.json`` once everything is up, just before its ready
line, and removes it when it stops; the data folder is ``NEXUS_LOCAL_DIR``, else ``.local/``
in the repository. A file left behind by a stack that was killed names a process that no
longer runs, and is ignored. The same start also writes ``<data dir>/env.json``, the values
the stack uses in ``sam local invoke --env-vars`` form, as a container reaches them.

No import of the layer or of the rest of the stack here: the operator CLI loads this.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
STATE_FILE = "stack.json"
SAM_ENV_FILE = "env.json"
# How a container started by `sam local` reaches this machine.
DOCKER_HOST = "host.docker.internal"


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("NEXUS_LOCAL_DIR") or ROOT / ".local")


@dataclass(frozen=True)
class StackState:
    pid: int
    api_url: str
    lambda_url: str
    sqs_url: str
    graph_url: str
    database_url: str
    queues: dict[str, str] = field(default_factory=dict)
    # Stripe's API as the functions reach it (the sandbox's, when the stack serves one).
    stripe_url: str = ""
    # The web app (web/ and its /api proxy), WEB_BASE_URL unless that names another origin.
    web_url: str = ""


def _write_private(path: Path, data: object) -> None:
    """Write JSON readable by the owner only, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(directory: Path, state: StackState) -> Path:
    path = directory / STATE_FILE
    _write_private(path, asdict(state))
    return path


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def read(directory: Path) -> StackState | None:
    """The running stack's state, or None (no file, unreadable, or its process is gone)."""
    try:
        raw = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        state = StackState(**raw)
    except (OSError, ValueError, TypeError):
        return None
    return state if _running(state.pid) else None


DEFAULT_PORTS = {"api": "3000", "lambda": "3001", "sqs": "4566"}
_PORT_VARIABLES = {"api": "PORT", "lambda": "LAMBDA_PORT", "sqs": "SQS_PORT"}


@dataclass(frozen=True)
class Endpoints:
    """Where a client reaches the local stack, and how that was decided (for messages)."""

    api_url: str
    lambda_url: str
    sqs_url: str
    database_url: str | None
    source: str


def locate(environ: Mapping[str, str] | None = None) -> Endpoints:
    """The running stack's endpoints from its state file, each overridden by its port
    variable (``PORT``, ``LAMBDA_PORT``, ``SQS_PORT``) when set; without a running stack,
    the default ports on 127.0.0.1."""
    env = os.environ if environ is None else environ
    directory = data_dir(env)
    found = read(directory)
    if found is not None:
        urls = {"api": found.api_url, "lambda": found.lambda_url, "sqs": found.sqs_url}
        source = str(directory / STATE_FILE)
    else:
        urls = {k: f"http://127.0.0.1:{port}" for k, port in DEFAULT_PORTS.items()}
        source = f"default ports (no running stack recorded in {directory / STATE_FILE})"
    overridden = []
    for key, variable in _PORT_VARIABLES.items():
        if env.get(variable):
            urls[key] = f"http://127.0.0.1:{env[variable]}"
            overridden.append(variable)
    if overridden:
        source += " and " + ", ".join(overridden)
    return Endpoints(
        api_url=urls["api"],
        lambda_url=urls["lambda"],
        sqs_url=urls["sqs"],
        database_url=found.database_url if found else None,
        source=source,
    )


def remove(directory: Path, pid: int) -> None:
    """Remove the state file if it is this process's (a second stack may have replaced it)."""
    path = directory / STATE_FILE
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def as_seen_from_docker(url: str) -> str:
    """``url`` with a loopback host replaced by the one a container uses for this machine."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "0.0.0.0"):
        return url
    netloc = parts.netloc.replace(parts.hostname, DOCKER_HOST, 1)
    return urlunsplit(parts._replace(netloc=netloc))


def write_sam_env(directory: Path, values: Mapping[str, str]) -> Path:
    """``sam local invoke --env-vars`` input: the same values for every function (SAM applies
    a variable only where the template declares it)."""
    path = directory / SAM_ENV_FILE
    _write_private(path, {"Parameters": dict(values)})
    return path
