"""Cold-start bench: time to import each function's handler module in a fresh interpreter.

For every function in template.yaml, and for a naive eager handler that imports everything
(Powertools Logger/Metrics, resolver, pydantic, psycopg, bcrypt, PyJWT, boto3), start
N fresh interpreters, time the import of the handler module inside each and report the
median, the ratio to the eager baseline, and which heavy modules got loaded.

The interpreters see only what ships: a virtualenv built from layers/shared/requirements.txt
(the dev tools would change the answer: moto pulls in cryptography, which PyJWT then
imports) plus a copy of the layer and function code. Two modes, side by side:
- bytecode: compiled .pyc present, as a layer built with compiled bytecode would be;
- source: no usable .pyc (an empty PYTHONPYCACHEPREFIX), as Lambda runs code shipped
  without it, since its code directories are read-only and nothing can be cached there.

Then, against the import floor (what every API handler imports at minimum: the Powertools
resolver and Logger, pydantic, psycopg, and nothing of ours):
- vs floor: each API function's import over the floor's, CheckoutFunction against its
  target of <= 1.10x;
- Stripe client choice (bytecode only): the floor plus ``requests``, plus the ``stripe`` SDK,
  plus an SDK client and its checkout sessions service, each over the floor, and the cost of
  the extra import measured inside the interpreter after the floor (what the first Stripe
  call pays when the client imports it lazily). The SDK is no project dependency: it is
  installed (pinned) in a throwaway virtualenv of its own, built like the runtime one; if
  that fails its rows are skipped with the reason.
Every probe runs in the same rounds, interleaved, so machine drift hits all alike.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_local.template import ROOT, App, parse

# Module names whose presence shows a heavy dependency was loaded. botocore.session, not
# botocore: Powertools' user-agent hook imports the bare botocore package (about 2 ms).
HEAVY = (
    "boto3",
    "botocore.session",
    "aws_xray_sdk",
    "psycopg",
    "bcrypt",
    "requests",
    "jwt",
    "pydantic",
    "cryptography",
    "stripe",
)
TARGET_RATIO = 0.5
# CheckoutFunction's handler import over the floor's (the target once it calls Stripe)
FLOOR_TARGET = 1.10
FLOOR_TARGET_FUNCTION = "CheckoutFunction"
BENCH_DIR = ROOT / ".local" / "bench"
RUNTIME = BENCH_DIR / "runtime"
STRIPE_RUNTIME = BENCH_DIR / "stripe-sdk"
STRIPE_PIN = "stripe==16.1.0"
UV = ROOT / ".tools" / "uv" / "bin" / "uv"
REQUIREMENTS = ROOT / "layers" / "shared" / "requirements.txt"

_PROBE = r"""
import importlib.util, json, sys, time
before = set(sys.modules)
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("handler_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
t1 = time.perf_counter()
split = getattr(module, "BENCH_SPLIT", None)
loaded = set(sys.modules) - before
print(json.dumps({"ms": (t1 - t0) * 1000, "modules": len(loaded),
                  "tail_ms": None if split is None else (t1 - split) * 1000,
                  "heavy": sorted(loaded & set(sys.argv[2].split(",")))}))
"""

# The floor: what every API handler imports at minimum. Every function imports
# nexus.observability, whose Logger import runs aws_lambda_powertools/__init__ (Metrics too).
_FLOOR = """\
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
import psycopg
import pydantic
"""
# Probes of the floor plus something: BENCH_SPLIT marks the end of the floor's imports, so the
# probe also reports what the rest cost in an interpreter that has the floor loaded already.
_SPLIT = "import time\nBENCH_SPLIT = time.perf_counter()\n"
_FLOOR_PLUS = {
    "floor_validation": "APIGatewayHttpResolver(enable_validation=True)\n",
    "floor_requests": "import requests\n",
    "floor_stripe": "import stripe\n",
    "floor_stripe_client": (
        'import stripe\nclient = stripe.StripeClient("sk_test_x")\n'
        "sessions = client.v1.checkout.sessions\n"
    ),
}


@dataclass(frozen=True)
class Probe:
    name: str
    module: Path
    python: Path


class ProbeFailed(Exception):
    """A handler module could not be imported with only the layer's requirements."""


class Unavailable(Exception):
    """The throwaway virtualenv with the Stripe SDK could not be built (the reason)."""


def _build_venv(venv: Path, stamp_text: str, extra: list[str]) -> Path:
    python = venv / "bin" / "python"
    stamp = venv / "requirements.txt"
    if python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == stamp_text:
        return python
    print(f"preparing {venv.relative_to(ROOT)}: layers/shared/requirements.txt", *extra, "...")
    subprocess.run(
        [UV, "venv", "--quiet", "--clear", "--python", sys.executable, venv],
        check=True,
        capture_output=True,
        text=True,
    )
    install: list[str | Path] = [UV, "pip", "install", "--quiet", "--compile-bytecode"]
    install += ["--python", python, "-r", REQUIREMENTS, *extra]
    subprocess.run(install, check=True, capture_output=True, text=True, timeout=900)
    stamp.write_text(stamp_text, encoding="utf-8")
    return python


def runtime_python() -> Path:
    return _build_venv(RUNTIME, REQUIREMENTS.read_text(encoding="utf-8"), [])


def stripe_python() -> Path:
    """The runtime's requirements (as pinned) plus the Stripe SDK, in a virtualenv of its own."""
    wanted = REQUIREMENTS.read_text(encoding="utf-8") + STRIPE_PIN + "\n"
    try:
        return _build_venv(STRIPE_RUNTIME, wanted, [STRIPE_PIN])
    except subprocess.CalledProcessError as exc:
        lines = (exc.stderr or "").strip().splitlines() or [f"exit status {exc.returncode}"]
        raise Unavailable(f"uv failed: {' / '.join(line.strip() for line in lines[-3:])}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(str(exc)) from exc


def code_copy() -> Path:
    """The layer and the functions, copied and compiled to bytecode, and the probe modules."""
    code = BENCH_DIR / "code"
    shutil.rmtree(code, ignore_errors=True)
    shutil.copytree(ROOT / "layers" / "shared" / "nexus", code / "python" / "nexus")
    shutil.copytree(ROOT / "functions", code / "functions")
    shutil.copy(Path(__file__).with_name("eager_handler.py"), code / "eager_handler.py")
    (code / "floor.py").write_text(_FLOOR, encoding="utf-8")
    for name, rest in _FLOOR_PLUS.items():
        (code / f"{name}.py").write_text(_FLOOR + _SPLIT + rest, encoding="utf-8")
    compileall.compile_dir(code, quiet=1)
    return code


def _probe(python: Path, code: Path, module: Path, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [python, "-c", _PROBE, str(module), ",".join(HEAVY)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=code,
    )
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ProbeFailed(f"importing {module.relative_to(code)} failed: {last}")
    lines = out.stdout.strip().splitlines()
    if not lines:
        raise ProbeFailed(f"importing {module.relative_to(code)} printed nothing")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def measure(code: Path, probes: list[Probe], runs: int, *, bytecode: bool) -> list[dict[str, Any]]:
    """Rounds of one fresh interpreter per probe, interleaved, so that drift in the
    machine's speed during the run affects the baselines and the handlers alike."""
    with tempfile.TemporaryDirectory() as empty:
        env = {
            **os.environ,
            "PYTHONPATH": str(code / "python"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        env.pop("PYTHONPYCACHEPREFIX", None)
        if not bytecode:
            env["PYTHONPYCACHEPREFIX"] = empty
        samples: list[list[float]] = [[] for _ in probes]
        tails: list[list[float]] = [[] for _ in probes]
        last: list[dict[str, Any]] = [{} for _ in probes]
        for _ in range(runs):
            for i, probe in enumerate(probes):
                last[i] = _probe(probe.python, code, probe.module, env)
                samples[i].append(float(last[i]["ms"]))
                if last[i]["tail_ms"] is not None:
                    tails[i].append(float(last[i]["tail_ms"]))
    return [
        {
            "ms": statistics.median(s),
            "tail_ms": statistics.median(t) if t else None,
            "modules": r["modules"],
            "heavy": r["heavy"],
        }
        for s, t, r in zip(samples, tails, last, strict=True)
    ]


def _measure_named(
    code: Path, probes: list[Probe], runs: int, *, bytecode: bool
) -> dict[str, dict[str, Any]]:
    results = measure(code, probes, runs, bytecode=bytecode)
    return {probe.name: result for probe, result in zip(probes, results, strict=True)}


def _eager_table(
    targets: list[Probe], fast: dict[str, dict[str, Any]], slow: dict[str, dict[str, Any]]
) -> None:
    base = {True: float(fast[targets[0].name]["ms"]), False: float(slow[targets[0].name]["ms"])}
    worst = 0.0
    for i, target in enumerate(targets):
        row = fast[target.name]
        ms = {True: float(row["ms"]), False: float(slow[target.name]["ms"])}
        ratios = {mode: ms[mode] / base[mode] for mode in ms}
        if i > 0:
            worst = max(worst, *ratios.values())
        heavy = ", ".join(row["heavy"]) or "-"
        print(
            f"{target.name:<20}{ms[True]:>12.1f}{ratios[True]:>7.2f}{ms[False]:>11.1f}"
            f"{ratios[False]:>7.2f}{row['modules']!s:>9}  {heavy}",
            flush=True,
        )
    print(
        f"\nsource/bytecode for the eager handler: {base[False] / base[True]:.2f}x slower"
        f" without bytecode"
    )
    verdict = "meets" if worst <= TARGET_RATIO else "misses"
    print(
        f"worst ratio {worst:.2f} {verdict} the target of <= {TARGET_RATIO:.2f}x the eager handler"
    )


def _floor_table(
    names: list[str], fast: dict[str, dict[str, Any]], slow: dict[str, dict[str, Any]]
) -> None:
    print(
        "\nvs floor: API handler import / import floor (Powertools resolver + Logger, pydantic,"
        " psycopg;\nnothing of ours), same rounds as above"
    )
    header = f"{'handler':<20}{'bytecode ms':>12}{'x floor':>8}{'source ms':>11}{'x floor':>8}"
    print(header)
    print("-" * len(header))
    for name in ["floor", *names]:
        ratio = fast[name]["ms"] / fast["floor"]["ms"]
        source_ratio = slow[name]["ms"] / slow["floor"]["ms"]
        mark = f"  <- target <= {FLOOR_TARGET:.2f}x" if name == FLOOR_TARGET_FUNCTION else ""
        print(
            f"{name:<20}{fast[name]['ms']:>12.1f}{ratio:>8.2f}{slow[name]['ms']:>11.1f}"
            f"{source_ratio:>8.2f}{mark}"
        )
    validation = fast["floor_validation"]
    print(
        f"(floor + APIGatewayHttpResolver(enable_validation=True), as every API handler makes"
        f" one:\n {validation['ms']:.1f} ms, {validation['ms'] / fast['floor']['ms']:.2f}x the"
        f" floor; the resolver with validation costs {validation['tail_ms']:.1f} ms after the"
        " floor)"
    )
    if FLOOR_TARGET_FUNCTION in names:
        for mode, rows in (("bytecode", fast), ("source", slow)):
            ratio = rows[FLOOR_TARGET_FUNCTION]["ms"] / rows["floor"]["ms"]
            verdict = "meets" if ratio <= FLOOR_TARGET else "misses"
            print(
                f"{FLOOR_TARGET_FUNCTION} ({mode}): {ratio:.2f}x the floor {verdict} the target"
                f" of <= {FLOOR_TARGET:.2f}x"
            )
        over = fast[FLOOR_TARGET_FUNCTION]["ms"] / validation["ms"]
        print(
            f"{FLOOR_TARGET_FUNCTION} (bytecode) over the floor + validating resolver: {over:.2f}x"
            " (what is left of ours)"
        )


_CHOICES = {
    "floor_requests": "floor + import requests",
    "floor_stripe": "floor + import stripe",
    "floor_stripe_client": "floor + stripe client+sessions",
}


def _stripe_table(fast: dict[str, dict[str, Any]], unavailable: str | None) -> None:
    print(
        "\nStripe client choice (bytecode), same rounds as above; 'after floor' is the extra"
        "\nimport timed inside an interpreter that has the floor loaded (median of the runs)"
    )
    header = (
        f"{'probe':<32}{'ms':>8}{'x floor':>8}{'- floor ms':>11}{'after floor':>12}{'modules':>9}"
    )
    print(header)
    print("-" * len(header))
    floor = fast["floor"]
    print(f"{'floor':<32}{floor['ms']:>8.1f}{1:>8.2f}{'':>11}{'':>12}{floor['modules']!s:>9}")
    for name, label in _CHOICES.items():
        if name not in fast:
            print(f"{label:<32}  skipped: {unavailable}")
            continue
        row = fast[name]
        print(
            f"{label:<32}{row['ms']:>8.1f}{row['ms'] / floor['ms']:>8.2f}"
            f"{row['ms'] - floor['ms']:>+11.1f}{row['tail_ms']:>+12.1f}"
            f"{row['modules'] - floor['modules']:>+9}"
        )
    print(f"(stripe SDK: {STRIPE_PIN}, client stripe.StripeClient + client.v1.checkout.sessions)")


def _closing_note(fast: dict[str, dict[str, Any]]) -> None:
    floor, checkout = fast["floor"]["ms"], fast.get(FLOOR_TARGET_FUNCTION, {}).get("ms")
    if checkout is None:
        return
    ratio = checkout / floor
    verdict = "meets" if ratio <= FLOOR_TARGET else "misses"
    req = fast["floor_requests"]
    print(
        f"\n{FLOOR_TARGET_FUNCTION} with requests imported lazily by the Stripe client:"
        f"\n  handler import {checkout:.1f} ms = {ratio:.2f}x the floor"
        f" ({verdict} <= {FLOOR_TARGET:.2f}x)"
        f"\n  the first Stripe call pays the requests import: floor+requests - floor ="
        f" {req['ms'] - floor:+.1f} ms;\n  timed after the floor: {req['tail_ms']:+.1f} ms"
    )
    sdk = fast.get("floor_stripe_client")
    if sdk is not None:
        eager = checkout + sdk["tail_ms"]
        print(
            f"with the stripe SDK (client + sessions) instead:"
            f"\n  imported by the handler: about {eager:.1f} ms = {eager / floor:.2f}x the floor"
            f"\n  imported lazily: the first Stripe call pays {sdk['tail_ms']:+.1f} ms"
            f" ({sdk['tail_ms'] - req['tail_ms']:+.1f} ms vs requests)"
        )


def _probes(app: App, code: Path, python: Path) -> tuple[list[Probe], list[Probe]]:
    targets = [Probe("eager (baseline)", code / "eager_handler.py", python)] + [
        Probe(fn.logical_id, code / fn.module_path.relative_to(ROOT), python)
        for fn in sorted(app.functions.values(), key=lambda f: f.logical_id)
    ]
    floors = [Probe("floor", code / "floor.py", python)]
    floors += [Probe(n, code / f"{n}.py", python) for n in ("floor_validation", "floor_requests")]
    return targets, floors


def run(runs: int = 9) -> int:
    app = parse()
    python = runtime_python()
    unavailable: str | None = None
    try:
        sdk_python: Path | None = stripe_python()
    except Unavailable as exc:
        sdk_python, unavailable = None, str(exc)
        print(f"Stripe SDK rows skipped: {unavailable}")
    code = code_copy()
    targets, floors = _probes(app, code, python)
    sdk: list[Probe] = []
    if sdk_python is not None:
        sdk = [
            Probe(n, code / f"{n}.py", sdk_python) for n in ("floor_stripe", "floor_stripe_client")
        ]
    print(f"Cold start: handler module import, median of {runs} fresh interpreters each")
    print(f"Python {sys.version.split()[0]}; only the layer's requirements installed\n")
    header = (
        f"{'handler':<20}{'bytecode ms':>12}{'ratio':>7}{'source ms':>11}{'ratio':>7}"
        f"{'modules':>9}  heavy modules loaded"
    )
    print(header)
    print("-" * len(header))
    # The SDK and the extras run with bytecode only: what `make build` ships (and compiling
    # the SDK from source in every run would double the bench's time).
    fast_probes = targets + floors + sdk
    slow_probes = targets + floors[:1]
    fast = _measure_named(code, fast_probes, runs, bytecode=True)
    slow = _measure_named(code, slow_probes, runs, bytecode=False)
    _eager_table(targets, fast, slow)
    api = sorted({route.function_id for route in app.routes})
    _floor_table(api, fast, slow)
    _stripe_table(fast, unavailable)
    _closing_note(fast)
    return 0
