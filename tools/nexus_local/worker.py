"""One emulated Lambda execution environment as an OS process of its own (process mode).

The local stack's runtime (:mod:`nexus_local.runtime`) starts ``python -m nexus_local.worker
<fd> <function>`` per environment, with the function's own environment variables and its
code folder as the working directory, and talks to it in line-delimited JSON:

- stdin (stack → environment): first the init line ``{"module_path", "attribute",
  "function_name", "memory", "timeout"}``, then one ``{"request_id", "event",
  "remaining_ms"}`` line per invocation;
- the pipe ``<fd>`` (environment → stack): ``{"ready": true}`` once the handler module is
  imported (or ``{"ready": false, "errorType", "errorMessage"}``), then one
  ``{"ok": true, "result"}`` or ``{"ok": false, "errorType", "errorMessage", "stackTrace"}``
  line per invocation.

The environment's own stdout and stderr are the stack's, so what the handler logs (Powertools'
JSON lines, ``print``) reaches the stack's output as it did in thread mode; the protocol has a
pipe of its own that nothing the handler writes can corrupt, and stdin is replaced by
/dev/null once the protocol has taken it. One invocation at a time, as on AWS. The process
ends when the stack closes its stdin or goes away (a watchdog checks the parent), ignores
Ctrl-C (the stack stops it in order), and the stack kills it on a timeout.

This module is also the stack's side of that protocol (:class:`WorkerProcess`), and holds
what both sides share (:class:`LambdaContext`, :func:`load_handler`); it imports only the
standard library, so an environment starts no faster or slower because of the stack.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Any

log = logging.getLogger("nexus_local")
Handler = Callable[[Any, Any], Any]
# Lambda's limit on the init phase (importing the handler module).
INIT_TIMEOUT = 10.0


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:000000000000:function:{name}"


def load_module_file(module_path: Path, name: str) -> ModuleType:
    """Import a handler module from its file under the module name ``name`` (every
    function's entry module is called app.py): a separate instance each time."""
    spec = importlib.util.spec_from_file_location(name, module_path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_handler(module_path: Path, attribute: str, name: str) -> Handler:
    handler: Handler = getattr(load_module_file(module_path, name), attribute)
    return handler


# -- the environment's side -----------------------------------------------------------------
def _send(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "ok": False,
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _watch_parent(parent: int) -> None:
    """The stack died without closing our stdin (a handler is running): end at once."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _invoke(handler: Handler, init: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    request_id = str(request["request_id"])
    context = LambdaContext(
        function_name=init["function_name"],
        memory_limit_in_mb=int(init["memory"]),
        invoked_function_arn=function_arn(init["function_name"]),
        aws_request_id=request_id,
        deadline=time.monotonic() + int(request["remaining_ms"]) / 1000,
    )
    try:
        result = handler(request["event"], context)
    except Exception as exc:
        log.exception("%s raised (request id %s)", init["function_name"], request_id)
        return _error(exc)
    return {"ok": True, "result": result}


def _answer(out: IO[bytes], message: dict[str, Any]) -> None:
    """Send an invocation's answer; a result JSON cannot hold is Lambda's MarshalError."""
    try:
        line = json.dumps(message).encode()
    except (TypeError, ValueError) as exc:
        line = json.dumps(_error(exc, "Runtime.MarshalError")).encode()
    out.write(line + b"\n")
    out.flush()


def serve(requests: IO[bytes], out: IO[bytes]) -> int:
    init = json.loads(requests.readline() or b"null")
    if not isinstance(init, dict):
        return 2
    code = Path(init["module_path"]).parent
    sys.path.insert(0, str(code))  # as /var/task is on Lambda
    try:
        handler = load_handler(
            Path(init["module_path"]), init["attribute"], f"lambda_{init['function_name']}"
        )
    except Exception as exc:
        log.exception("%s: the handler module failed to import", init["function_name"])
        _send(out, {**_error(exc, "Runtime.ImportModuleError"), "ready": False})
        return 1
    _send(out, {"ready": True})
    for line in requests:
        _answer(out, _invoke(handler, init, json.loads(line)))
    return 0


def main(argv: list[str]) -> int:
    # Ctrl-C in a terminal reaches the whole process group: the stack stops its
    # environments itself, after the requests they are serving. The stack starts this
    # process with SIGINT blocked, so one that came while the interpreter started is
    # discarded here instead of interrupting the start.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    from nexus_local import logs

    logs.configure()
    out = os.fdopen(int(argv[0]), "wb")
    requests = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    return serve(requests, out)


# -- the stack's side -----------------------------------------------------------------------
class WorkerFailed(Exception):
    """The environment could not answer: it timed out, exited or failed to start. Lambda
    reports each as a function error with these types."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class WorkerProcess:
    """One running environment: :meth:`invoke` sends an event and waits for the answer, at
    most until the function's timeout (then the process is killed, as Lambda does)."""

    def __init__(
        self,
        *,
        function_name: str,
        module_path: Path,
        attribute: str,
        memory: int,
        timeout: int,
        environment: Mapping[str, str],
    ) -> None:
        self.function_name, self.timeout = function_name, timeout
        self._buffer = b""
        self._closed = False
        read_end, write_end = os.pipe()
        # Inherited through exec: a Ctrl-C while the environment starts waits for it to
        # ignore it (see main); this thread's mask is restored at once.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.proc = subprocess.Popen(
                # The function's name is for ps and the tests' process scans only.
                [sys.executable, "-m", "nexus_local.worker", str(write_end), function_name],
                stdin=subprocess.PIPE,
                env={**environment, "PYTHONUNBUFFERED": "1"},
                cwd=module_path.parent,
                pass_fds=(write_end,),
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(write_end)
        self._answers = read_end
        init = {
            "module_path": str(module_path),
            "attribute": attribute,
            "function_name": function_name,
            "memory": memory,
            "timeout": timeout,
        }
        try:
            self._write(init)
            ready = self._read(time.monotonic() + INIT_TIMEOUT, "init")
        except WorkerFailed:
            self.close()
            raise
        if not ready.get("ready"):
            self.close()
            raise WorkerFailed(
                str(ready.get("errorType", "Runtime.Unknown")), str(ready.get("errorMessage"))
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _write(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise self._exited() from exc

    def _exited(self) -> WorkerFailed:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        status = f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        return WorkerFailed("Runtime.ExitError", f"Runtime exited with error: {status}")

    def _read(self, deadline: float, phase: str) -> dict[str, Any]:
        """The next line from the environment, or WorkerFailed at the deadline (the process
        is killed) or when it has exited."""
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            readable = select.select([self._answers], [], [], max(0.0, left))[0] if left > 0 else []
            if not readable:
                self.proc.kill()
                self.proc.wait()
                if phase == "init":
                    raise WorkerFailed("Runtime.InitError", "Init timed out")
                raise WorkerFailed(
                    "Sandbox.Timedout", f"Task timed out after {self.timeout:.2f} seconds"
                )
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                raise self._exited()
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def invoke(self, event: Any, request_id: str) -> dict[str, Any]:
        """The environment's answer line (``ok`` with ``result``, or the error fields);
        WorkerFailed when it timed out or died, after which it is no longer usable."""
        deadline = time.monotonic() + self.timeout
        self._write({"request_id": request_id, "event": event, "remaining_ms": self.timeout * 1000})
        return self._read(deadline, "invoke")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """End the environment: stdin closed (it exits), killed if it does not."""
        if self._closed:
            return
        self._closed = True
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self._answers)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
