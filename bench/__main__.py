"""`make bench`: benchmarks, each printing figures beside a baseline run in the same process."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bench import api, coldstart, funnel, graph_requests, ingest, isolation, plans, scale, web


def _coldstart(args: argparse.Namespace) -> int:
    try:
        coldstart.run(max(args.runs, 9))
    except coldstart.ProbeFailed as exc:
        print(f"error: cold-start bench: {exc}", file=sys.stderr)
        return 1
    return 0


def _done(run: Callable[[], object]) -> int:
    """Benches that print and return figures (or nothing): they cannot fail the run."""
    run()
    return 0


# In the order `make bench` runs them; each answers 0 or the exit status that fails the run.
BENCHES: dict[str, Callable[[argparse.Namespace], int]] = {
    "coldstart": _coldstart,
    "api": lambda args: _done(lambda: api.run(args.seconds)),
    "ingest": lambda args: _done(ingest.run),
    "graph": lambda args: _done(graph_requests.run),
    "isolation": lambda args: _done(lambda: isolation.run(args.seconds)),
    "funnel": lambda args: funnel.run(args.seconds),
    "plans": lambda args: plans.run(),
    "scale": lambda args: scale.run(),
    "web": lambda args: web.run(),  # Chromium: make chromium
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("which", nargs="?", default="all", choices=["all", *BENCHES])
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per handler (>= 9)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per API route")
    args = parser.parse_args(argv)
    for name, bench in BENCHES.items():
        if args.which not in ("all", name):
            continue
        status = bench(args)
        print()
        if status != 0:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
