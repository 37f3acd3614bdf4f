"""In-process Lambda runtime: loads each function's handler from its CodeUri and invokes it.

Each function gets its own small pool of worker threads, each thread standing for one
execution environment (one request at a time, its own database connection, as in Lambda).
"""

from __future__ import annotations

import importlib.util
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from nexus_local.template import App, Function

log = logging.getLogger("nexus_local")
Handler = Callable[[Any, Any], Any]


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


class InvocationError(Exception):
    """The handler raised: Lambda reports it as a function error."""

    def __init__(self, function_id: str, request_id: str, error: BaseException) -> None:
        super().__init__(f"{function_id} failed ({request_id}): {type(error).__name__}: {error}")
        self.function_id = function_id
        self.request_id = request_id
        self.error = error


def load_module(fn: Function) -> ModuleType:
    """Import a function's handler module from its CodeUri under a name of its own (every
    function's entry module is called app.py)."""
    spec = importlib.util.spec_from_file_location(f"lambda_{fn.logical_id}", fn.module_path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(fn.module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Runtime:
    def __init__(self, app: App, *, concurrency: int = 4) -> None:
        self.app = app
        self._handlers: dict[str, Handler] = {}
        self._pools = {
            fid: ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=fid)
            for fid in app.functions
        }

    def _load(self, fn: Function) -> Handler:
        cached = self._handlers.get(fn.logical_id)
        if cached is not None:
            return cached
        handler: Handler = getattr(load_module(fn), fn.attribute)
        self._handlers[fn.logical_id] = handler
        return handler

    def load_all(self) -> None:
        for fn in self.app.functions.values():
            self._load(fn)

    def _run(self, fn: Function, event: Any, request_id: str) -> Any:
        context = LambdaContext(
            function_name=fn.logical_id,
            memory_limit_in_mb=fn.memory,
            invoked_function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{fn.logical_id}",
            aws_request_id=request_id,
            deadline=time.monotonic() + fn.timeout,
        )
        try:
            return self._load(fn)(event, context)
        except Exception as exc:
            log.exception("%s raised (request id %s)", fn.logical_id, request_id)
            raise InvocationError(fn.logical_id, request_id, exc) from exc

    def invoke(self, function_id: str, event: Any) -> Any:
        fn = self.app.functions[function_id]
        request_id = str(uuid.uuid4())
        return self._pools[function_id].submit(self._run, fn, event, request_id).result()

    def shutdown(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
