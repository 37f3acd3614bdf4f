"""The cold-start bench's eager baseline must import with only the layer's requirements, as
the bench runs it: it broke `make bench` when the X-Ray SDK (which a Powertools Tracer needs)
left the layer. The dev virtualenv still has the X-Ray SDK (moto's server pulls it in), so
the subprocess refuses every module no distribution in layers/shared/requirements.txt
provides."""

from __future__ import annotations

import subprocess
import sys

from tests.support.api import ROOT

_ONLY_THE_LAYER = r"""
import importlib.abc, importlib.metadata, re, runpy, sys

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

allowed = set()
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#")[0].strip()
    if line:
        allowed.add(norm(re.split(r"[\s=<>!~;\[]", line, maxsplit=1)[0]))
providers = importlib.metadata.packages_distributions()

class OnlyTheLayer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in sys.builtin_module_names:
            return None
        dists = {norm(d) for d in providers.get(top, [])}
        if dists and not dists & allowed:
            raise ModuleNotFoundError(f"{name} is not in the layer's requirements", name=name)
        return None

sys.meta_path.insert(0, OnlyTheLayer())
runpy.run_path(sys.argv[2], run_name="eager")
"""


def test_the_eager_baseline_imports_with_only_the_layers_requirements() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _ONLY_THE_LAYER,
            str(ROOT / "layers" / "shared" / "requirements.txt"),
            str(ROOT / "bench" / "eager_handler.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
