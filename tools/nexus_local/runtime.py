"""Lambda runtime for the local stack: each function's emulated execution environments, one
request at a time each, at most the function's ``ReservedConcurrentExecutions`` of them (else
``concurrency=``, else ``LOCAL_MAX_ENVIRONMENTS``, default 4); when all are busy, an
invocation waits for one to be free. A pool starts empty and grows on demand.

Two isolation modes:

- ``isolation="process"`` (``make local``): each environment is an OS process of its own
  (:mod:`nexus_local.worker`), sharing no module state with any other, started with the
  function's own environment variables. A handler that exceeds the function's ``Timeout`` is
  killed and reported as Lambda reports it (``Sandbox.Timedout``, "Task timed out after
  N.00 seconds"); one whose process dies is replaced, and that invocation is a function error
  (``Runtime.ExitError``).
- ``isolation="thread"`` (the default: the in-process test suite, whose moto mocks,
  monkeypatched environment and fake servers a child process could not see): each
  environment is a worker thread with its own copy of the handler module (so its own
  Powertools resolver and batch processor) and its own database connection. Powertools keeps
  the current event on the resolver *class*, which every environment of the process would
  share; :func:`_environment_local_router_state` makes that state per thread. Each worker
  thread reads its own function's environment through an overlay on ``os.environ``
  (:class:`_FunctionEnviron`): writes still go to the real environment, so
  ``monkeypatch.setenv`` works, and a thread that is no environment sees the real one. A
  timeout cannot be enforced on a thread: thread mode does not.

A function's environment, in both modes, highest precedence first:

1. the function's template value (Globals merged) of a variable the template gives different
   values in different functions (``DB_USER``, ``POWERTOOLS_SERVICE_NAME`` once each function
   has its own, ...): that is the function's identity, and no single process-wide value can
   stand for it;
2. the runtime process's environment: what the developer, a test (``monkeypatch``) or the
   stack itself set — the local stand-ins for AWS (``DATABASE_URL``, ``AWS_ENDPOINT_URL``,
   queue URLs, ``GRAPH_API_BASE_URL``, secrets) and the knobs (``BCRYPT_ROUNDS``) win over
   the template's values for AWS;
3. the function's other template values (an empty one is a placeholder for
   ``sam local --env-vars``, as on AWS it is an empty variable).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from nexus_local.template import ROOT, App, Function
from nexus_local.worker import (
    Handler,
    LambdaContext,
    WorkerFailed,
    WorkerProcess,
    function_arn,
    load_module_file,
)

__all__ = ["InvocationError", "LambdaContext", "Runtime", "load_module"]

log = logging.getLogger("nexus_local")
Isolation = Literal["thread", "process"]
DEFAULT_MAX_ENVIRONMENTS = 4


class InvocationError(Exception):
    """The invocation failed: the handler raised, timed out, or its environment died or
    could not start. Lambda reports each as a function error (``errorType``,
    ``errorMessage``)."""

    def __init__(
        self,
        function_id: str,
        request_id: str,
        error_type: str,
        message: str,
        stack_trace: list[str] | None = None,
    ) -> None:
        super().__init__(f"{function_id} failed ({request_id}): {error_type}: {message}")
        self.function_id = function_id
        self.request_id = request_id
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []


def load_module(fn: Function, copy: str = "") -> ModuleType:
    """Import a function's handler module from its CodeUri under a name of its own (every
    function's entry module is called app.py); ``copy`` names one more, separate instance."""
    return load_module_file(fn.module_path, f"lambda_{fn.logical_id}{copy}")


# -- a function's environment ----------------------------------------------------------------
def identity_variables(app: App) -> frozenset[str]:
    """The variables the template gives different values in different functions."""
    values: dict[str, set[str]] = {}
    for fn in app.functions.values():
        for key, value in fn.environment.items():
            values.setdefault(key, set()).add(value)
    return frozenset(key for key, seen in values.items() if len(seen) > 1)


@dataclass(frozen=True)
class Overlay:
    """What a function's environment puts over the process's: ``identity`` wins over it,
    ``defaults`` only fill what it lacks (the precedence in the module docstring)."""

    identity: Mapping[str, str]
    defaults: Mapping[str, str]

    @classmethod
    def of(cls, fn: Function, identity: frozenset[str]) -> Overlay:
        return cls(
            identity={k: v for k, v in fn.environment.items() if k in identity},
            defaults={k: v for k, v in fn.environment.items() if k not in identity},
        )

    def apply(self, outer: Mapping[str, str]) -> dict[str, str]:
        """The function's whole environment over the process's ``outer`` one."""
        return {**self.defaults, **outer, **self.identity}


def common_variables(app: App) -> dict[str, str]:
    """The variables every function has, with the same value in each."""
    functions = list(app.functions.values())
    if not functions:
        return {}
    first = functions[0].environment
    return {k: v for k, v in first.items() if all(f.environment.get(k) == v for f in functions)}


def environment_limit(fn: Function, concurrency: int | None) -> int:
    """How many environments a function may have at once (see the module docstring)."""
    if fn.reserved_concurrency is not None:
        return fn.reserved_concurrency
    if concurrency is not None:
        return concurrency
    raw = os.environ.get("LOCAL_MAX_ENVIRONMENTS", "")
    try:
        return max(1, int(raw)) if raw else DEFAULT_MAX_ENVIRONMENTS
    except ValueError:
        raise ValueError(f"LOCAL_MAX_ENVIRONMENTS must be a whole number, got {raw!r}") from None


# -- thread mode ------------------------------------------------------------------------------
class _FunctionEnviron(MutableMapping[str, str]):
    """``os.environ`` as each thread-mode environment sees it: its function's
    :class:`Overlay` over the real environment; every other thread sees the real one.
    Writes and deletions go to the real environment (and so to ``putenv``)."""

    def __init__(self, real: MutableMapping[str, str]) -> None:
        self.real = real
        self._local = threading.local()

    def enter(self, overlay: Overlay | None) -> None:
        self._local.overlay = overlay

    def _overlay(self) -> Overlay | None:
        overlay: Overlay | None = getattr(self._local, "overlay", None)
        return overlay

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is None:
            return self.real[key]
        if key in overlay.identity:
            return overlay.identity[key]
        if key in self.real:
            return self.real[key]
        return overlay.defaults[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay()
        if overlay is None:
            return iter(self.real)
        return iter(overlay.apply(self.real))

    def __len__(self) -> int:
        overlay = self._overlay()
        return len(self.real) if overlay is None else len(overlay.apply(self.real))

    def __setitem__(self, key: str, value: str) -> None:
        self.real[key] = value

    def __delitem__(self, key: str) -> None:
        del self.real[key]

    def copy(self) -> dict[str, str]:
        return dict(self)

    def __repr__(self) -> str:
        return f"_FunctionEnviron({self.real!r})"


def _function_environ() -> _FunctionEnviron:
    """Install the overlay on ``os.environ`` once (it is transparent outside the worker
    threads of a thread-mode runtime)."""
    current = os.environ
    if isinstance(current, _FunctionEnviron):
        return current
    overlay = _FunctionEnviron(current)
    setattr(os, "environ", overlay)  # noqa: B010 - mypy refuses the direct form
    return overlay


def _real_environ() -> MutableMapping[str, str]:
    current: MutableMapping[str, str] = os.environ
    return current.real if isinstance(current, _FunctionEnviron) else current


_ROUTER_STATE = ("current_event", "lambda_context")


def _environment_local_router_state() -> None:
    """Powertools' resolvers assign the current event and Lambda context to ``BaseRouter``
    itself, shared by every resolver of the process; one execution environment per process
    (AWS, and process mode) never notices, threads standing for several (thread mode) would
    read each other's requests. Store both per thread instead: a descriptor on BaseRouter's
    metaclass serves ``BaseRouter.current_event = ...`` and one on BaseRouter serves
    ``app.current_event``."""
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


class _ThreadEnvironments:
    """A function's environments as worker threads of this process."""

    def __init__(self, fn: Function, limit: int, overlay: Overlay, environ: _FunctionEnviron):
        self.fn, self.limit = fn, limit
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=limit,
            thread_name_prefix=fn.logical_id,
            initializer=environ.enter,
            initargs=(overlay,),
        )

    def _load(self) -> Handler:
        """This environment's (this worker thread's) copy of the handler."""
        key = threading.current_thread().name
        cached = self._handlers.get(key)
        if cached is None:
            handler: Handler = getattr(load_module(self.fn, f"_{key}"), self.fn.attribute)
            with self._lock:
                cached = self._handlers.setdefault(key, handler)
        return cached

    def _run(self, event: Any, request_id: str) -> Any:
        fn = self.fn
        context = LambdaContext(
            function_name=fn.logical_id,
            memory_limit_in_mb=fn.memory,
            invoked_function_arn=function_arn(fn.logical_id),
            aws_request_id=request_id,
            deadline=time.monotonic() + fn.timeout,
        )
        try:
            return self._load()(event, context)
        except Exception as exc:
            log.exception("%s raised (request id %s)", fn.logical_id, request_id)
            raise InvocationError(fn.logical_id, request_id, type(exc).__name__, str(exc)) from exc

    def invoke(self, event: Any, request_id: str) -> Any:
        return self._pool.submit(self._run, event, request_id).result()

    def pids(self) -> list[int]:
        return [os.getpid()] if self._handlers else []

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# -- process mode -----------------------------------------------------------------------------
def worker_pythonpath() -> str:
    """The layer and the local stack's own package for an environment process, as absolute
    paths (its working directory is the function's code folder)."""
    entries = [str(ROOT / "layers" / "shared"), str(ROOT / "tools")]
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if entry and str(Path(entry).resolve()) not in entries:
            entries.append(str(Path(entry).resolve()))
    return os.pathsep.join(entries)


class _ProcessEnvironments:
    """A function's environments as OS processes, started on demand up to ``limit``."""

    def __init__(self, fn: Function, limit: int, environment: Callable[[], dict[str, str]]) -> None:
        self.fn, self.limit, self._environment = fn, limit, environment
        self._idle: list[WorkerProcess] = []
        self._all: set[WorkerProcess] = set()
        self._starting = 0
        self._closed = False
        self._cond = threading.Condition()

    def _start(self) -> WorkerProcess:
        fn = self.fn
        return WorkerProcess(
            function_name=fn.logical_id,
            module_path=fn.module_path,
            attribute=fn.attribute,
            memory=fn.memory,
            timeout=fn.timeout,
            environment=self._environment(),
        )

    def acquire(self) -> WorkerProcess:
        """A free environment: an idle one (the most recently used, as Lambda reuses warm
        ones), a new one while under the limit, else the first one released."""
        with self._cond:
            while True:
                if self._closed:
                    raise WorkerFailed("Runtime.Unavailable", "the local stack is stopping")
                if self._idle:
                    return self._idle.pop()
                if len(self._all) + self._starting < self.limit:
                    self._starting += 1
                    break
                self._cond.wait()
        try:
            worker = self._start()
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._starting -= 1
            self._all.add(worker)
        return worker

    def release(self, worker: WorkerProcess, reusable: bool) -> None:
        with self._cond:
            keep = reusable and worker.alive and not self._closed
            if keep:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
            self._cond.notify()
        if not keep:
            worker.close()

    def invoke(self, event: Any, request_id: str) -> Any:
        fn = self.fn
        try:
            worker = self.acquire()
        except WorkerFailed as exc:
            raise self._failed(request_id, exc) from exc
        reusable = False
        try:
            answer = worker.invoke(event, request_id)
            reusable = True
        except WorkerFailed as exc:
            raise self._failed(request_id, exc) from exc
        finally:
            self.release(worker, reusable)
        if answer.get("ok"):
            return answer.get("result")
        raise InvocationError(
            fn.logical_id,
            request_id,
            str(answer.get("errorType")),
            str(answer.get("errorMessage")),
            list(answer.get("stackTrace") or []),
        )

    def _failed(self, request_id: str, exc: WorkerFailed) -> InvocationError:
        message = f"RequestId: {request_id} Error: {exc}"
        log.error("%s %s", self.fn.logical_id, message)
        return InvocationError(self.fn.logical_id, request_id, exc.error_type, message)

    def pids(self) -> list[int]:
        with self._cond:
            return sorted(w.pid for w in self._all)

    def close(self, deadline: float | None = None) -> None:
        """Stop every environment: idle ones now, busy ones once they answer, killed at
        ``deadline`` (``time.monotonic()``; default 5 s from now)."""
        deadline = time.monotonic() + 5.0 if deadline is None else deadline
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._all.difference_update(idle)
            self._cond.notify_all()
        for worker in idle:
            worker.close()
        with self._cond:
            while self._all and time.monotonic() < deadline:
                self._cond.wait(timeout=0.1)
            busy = list(self._all)
        for worker in busy:
            worker.proc.kill()
            worker.close()


# -- the runtime ------------------------------------------------------------------------------
class Runtime:
    def __init__(
        self, app: App, *, concurrency: int | None = None, isolation: Isolation = "thread"
    ) -> None:
        if isolation not in ("thread", "process"):
            raise ValueError(f"isolation must be 'thread' or 'process', got {isolation!r}")
        self.app = app
        self.isolation = isolation
        identity = identity_variables(app)
        self._environments: dict[str, _ThreadEnvironments | _ProcessEnvironments] = {}
        if isolation == "thread":
            _environment_local_router_state()
            environ = _function_environ()
            for fid, fn in app.functions.items():
                self._environments[fid] = _ThreadEnvironments(
                    fn, environment_limit(fn, concurrency), Overlay.of(fn, identity), environ
                )
        else:
            for fid, fn in app.functions.items():
                self._environments[fid] = _ProcessEnvironments(
                    fn, environment_limit(fn, concurrency), self._spawn_environment(fn, identity)
                )

    @staticmethod
    def _spawn_environment(fn: Function, identity: frozenset[str]) -> Callable[[], dict[str, str]]:
        overlay = Overlay.of(fn, identity)

        def environment() -> dict[str, str]:
            # Read when the environment starts: the stack's values as they are by then.
            env = overlay.apply(_real_environ())
            env["PYTHONPATH"] = worker_pythonpath()
            env["AWS_LAMBDA_FUNCTION_NAME"] = fn.logical_id
            env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(fn.memory)
            return env

        return environment

    def limit(self, function_id: str) -> int:
        return self._environments[function_id].limit

    def environment_pids(self, function_id: str) -> list[int]:
        """The processes of a function's environments (thread mode: this one, once used)."""
        return self._environments[function_id].pids()

    def load_all(self) -> None:
        """Check every handler up front, so a syntax error shows at start-up: thread mode
        imports each once; process mode compiles each (its environments import it, and
        start-up stays fast)."""
        for fn in self.app.functions.values():
            if self.isolation == "thread":
                load_module(fn)
            else:
                compile(fn.module_path.read_bytes(), str(fn.module_path), "exec")

    def invoke(self, function_id: str, event: Any) -> Any:
        request_id = str(uuid.uuid4())
        return self._environments[function_id].invoke(event, request_id)

    def shutdown(self, grace: float = 5.0) -> None:
        """Stop every environment; a process-mode one still busy after ``grace`` seconds (all
        functions' together) is killed."""
        deadline = time.monotonic() + grace
        for environments in self._environments.values():
            if isinstance(environments, _ProcessEnvironments):
                environments.close(deadline)
            else:
                environments.close()
