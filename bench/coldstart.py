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
from pathlib import Path
from typing import Any

from nexus_local.template import ROOT, parse

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
)
TARGET_RATIO = 0.5
BENCH_DIR = ROOT / ".local" / "bench"
RUNTIME = BENCH_DIR / "runtime"
UV = ROOT / ".tools" / "uv" / "bin" / "uv"
REQUIREMENTS = ROOT / "layers" / "shared" / "requirements.txt"

_PROBE = r"""
import importlib.util, json, sys, time
before = set(sys.modules)
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("handler_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - t0
loaded = set(sys.modules) - before
print(json.dumps({"ms": elapsed * 1000, "modules": len(loaded),
                  "heavy": sorted(loaded & set(sys.argv[2].split(",")))}))
"""


def runtime_python() -> Path:
    python = RUNTIME / "bin" / "python"
    stamp = RUNTIME / "requirements.txt"
    wanted = REQUIREMENTS.read_text(encoding="utf-8")
    if not python.exists() or not stamp.exists() or stamp.read_text(encoding="utf-8") != wanted:
        print("preparing a virtualenv from layers/shared/requirements.txt ...", flush=True)
        subprocess.run(
            [UV, "venv", "--quiet", "--clear", "--python", sys.executable, RUNTIME], check=True
        )
        install: list[str | Path] = [UV, "pip", "install", "--quiet", "--compile-bytecode"]
        install += ["--python", python]
        subprocess.run([*install, "-r", REQUIREMENTS], check=True)
        stamp.write_text(wanted, encoding="utf-8")
    return python


def code_copy() -> Path:
    """The layer and the functions, copied and compiled to bytecode."""
    code = BENCH_DIR / "code"
    shutil.rmtree(code, ignore_errors=True)
    shutil.copytree(ROOT / "layers" / "shared" / "nexus", code / "python" / "nexus")
    shutil.copytree(ROOT / "functions", code / "functions")
    compileall.compile_dir(code, quiet=1)
    return code


class ProbeFailed(Exception):
    """A handler module could not be imported with only the layer's requirements."""


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


def measure(
    python: Path, code: Path, modules: list[Path], runs: int, *, bytecode: bool
) -> list[dict[str, Any]]:
    """Rounds of one fresh interpreter per module, interleaved, so that drift in the
    machine's speed during the run affects the baseline and the handlers alike."""
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
        samples: list[list[float]] = [[] for _ in modules]
        last: list[dict[str, Any]] = [{} for _ in modules]
        for _ in range(runs):
            for i, module in enumerate(modules):
                last[i] = _probe(python, code, module, env)
                samples[i].append(float(last[i]["ms"]))
    return [
        {"ms": statistics.median(s), "modules": r["modules"], "heavy": r["heavy"]}
        for s, r in zip(samples, last, strict=True)
    ]


def run(runs: int = 9) -> int:
    app = parse()
    python = runtime_python()
    code = code_copy()
    shutil.copy(Path(__file__).with_name("eager_handler.py"), code / "eager_handler.py")
    targets = [("eager (baseline)", code / "eager_handler.py")] + [
        (fn.logical_id, code / fn.module_path.relative_to(ROOT))
        for fn in sorted(app.functions.values(), key=lambda f: f.logical_id)
    ]
    print(f"Cold start: handler module import, median of {runs} fresh interpreters each")
    print(f"Python {sys.version.split()[0]}; only the layer's requirements installed\n")
    header = (
        f"{'handler':<20}{'bytecode ms':>12}{'ratio':>7}{'source ms':>11}{'ratio':>7}"
        f"{'modules':>9}  heavy modules loaded"
    )
    print(header)
    print("-" * len(header))
    modules = [module for _, module in targets]
    fast = measure(python, code, modules, runs, bytecode=True)
    slow = measure(python, code, modules, runs, bytecode=False)
    base = {True: float(fast[0]["ms"]), False: float(slow[0]["ms"])}
    worst = 0.0
    for i, (name, _) in enumerate(targets):
        ms = {True: float(fast[i]["ms"]), False: float(slow[i]["ms"])}
        ratios = {mode: ms[mode] / base[mode] for mode in ms}
        if i > 0:
            worst = max(worst, *ratios.values())
        heavy = ", ".join(fast[i]["heavy"]) or "-"
        print(
            f"{name:<20}{ms[True]:>12.1f}{ratios[True]:>7.2f}{ms[False]:>11.1f}"
            f"{ratios[False]:>7.2f}{fast[i]['modules']!s:>9}  {heavy}",
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
    return 0
