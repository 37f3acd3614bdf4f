"""Each function's layers match what its handler imports, checked in a fresh interpreter per
function (an import in this test process would be cached)."""

from __future__ import annotations

import subprocess
import sys

from nexus_local.template import parse
from tests.support.api import ROOT


def test_functions_that_encrypt_carry_the_crypto_layer_and_no_others() -> None:
    for name, fn in parse().functions.items():
        probe = (
            "import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('h', {str(fn.module_path)!r})\n"
            "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
            "print('nexus.crypto' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT / "layers/shared"), "PATH": "/usr/bin:/bin"},
        )
        encrypts = out.stdout.strip() == "True"
        assert fn.layers == (("SharedLayer", "CryptoLayer") if encrypts else ("SharedLayer",)), name
