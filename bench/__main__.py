"""`make bench`: benchmarks, each printing figures beside a baseline run in the same process."""

from __future__ import annotations

import argparse
import sys

from bench import api, coldstart, funnel, graph_requests, ingest, isolation, plans, web


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument(
        "which",
        nargs="?",
        default="all",
        choices=[
            "all",
            "coldstart",
            "api",
            "ingest",
            "graph",
            "isolation",
            "funnel",
            "plans",
            "web",
        ],
    )
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per handler (>= 9)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per API route")
    args = parser.parse_args(argv)
    if args.which in ("all", "coldstart"):
        try:
            coldstart.run(max(args.runs, 9))
        except coldstart.ProbeFailed as exc:
            print(f"error: cold-start bench: {exc}", file=sys.stderr)
            return 1
        print()
    if args.which in ("all", "api"):
        api.run(args.seconds)
        print()
    if args.which in ("all", "ingest"):
        ingest.run()
        print()
    if args.which in ("all", "graph"):
        graph_requests.run()
        print()
    if args.which in ("all", "isolation"):
        isolation.run(args.seconds)
        print()
    if args.which in ("all", "funnel") and funnel.run(args.seconds) != 0:
        return 1
    return _database_and_browser(args.which)


def _database_and_browser(which: str) -> int:
    """The benches of the data plans (a database of a realistic size) and of the web app's
    weight (Chromium, ``make chromium``)."""
    if which in ("all", "plans"):
        print()
        if plans.run() != 0:
            return 1
    if which in ("all", "web"):
        print()
        if web.run() != 0:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
