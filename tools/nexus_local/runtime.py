"""In-process Lambda runtime: loads each function's handler from its CodeUri and invokes it.

Each function gets its own small pool of worker threads, each thread standing for one
execution environment: one request at a time, its own copy of the handler module (so its
own Powertools resolver and batch processor) and its own database connection, as in Lambda.
Powertools keeps the current event on the resolver *class*, which every environment of the
process would share; :func:`_environment_local_router_state` makes that state per thread.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
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


def load_module(fn: Function, copy: str = "") -> ModuleType:
    """Import a function's handler module from its CodeUri under a name of its own (every
    function's entry module is called app.py); ``copy`` names one more, separate instance."""
    name = f"lambda_{fn.logical_id}{copy}"
    spec = importlib.util.spec_from_file_location(name, fn.module_path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(fn.module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ROUTER_STATE = ("current_event", "lambda_context")


def _environment_local_router_state() -> None:
    """Powertools' resolvers assign the current event and Lambda context to ``BaseRouter``
    itself, shared by every resolver of the process; one execution environment per process
    (AWS) never notices, threads standing for several (here) would read each other's
    requests. Store both per thread instead: a descriptor on BaseRouter's metaclass serves
    ``BaseRouter.current_event = ...`` and one on BaseRouter serves ``app.current_event``."""
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    if getattr(BaseRouter, "_nexus_environment_local", False):
        return
    local = threading.local()

    def state(name: str) -> property:
        return property(
            lambda _owner: getattr(local, name),
            lambda _owner, value: setattr(local, name, value),
        )

    # The instance-side descriptors go into BaseRouter's own dict first: once the metaclass has
    # its descriptors, a class-level assignment of these names goes to the thread-local store.
    for name in _ROUTER_STATE:
        type.__setattr__(BaseRouter, name, state(name))
    meta = type(BaseRouter)
    local_meta = type(
        f"EnvironmentLocal{meta.__name__}", (meta,), {n: state(n) for n in _ROUTER_STATE}
    )
    # A class is an instance of its metaclass: swap it for one that keeps this state per thread.
    setattr(BaseRouter, "__class__", local_meta)  # noqa: B010 - mypy refuses the direct form
    type.__setattr__(BaseRouter, "_nexus_environment_local", True)


class Runtime:
    def __init__(self, app: App, *, concurrency: int = 4) -> None:
        _environment_local_router_state()
        self.app = app
        self._handlers: dict[tuple[str, str], Handler] = {}
        self._lock = threading.Lock()
        self._pools = {
            fid: ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=fid)
            for fid in app.functions
        }

    def _load(self, fn: Function) -> Handler:
        """This environment's (this worker thread's) copy of the handler."""
        key = (fn.logical_id, threading.current_thread().name)
        cached = self._handlers.get(key)
        if cached is None:
            handler: Handler = getattr(load_module(fn, f"_{key[1]}"), fn.attribute)
            with self._lock:
                cached = self._handlers.setdefault(key, handler)
        return cached

    def load_all(self) -> None:
        """Import every handler once up front, so a syntax error shows at start-up."""
        for fn in self.app.functions.values():
            load_module(fn)

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
