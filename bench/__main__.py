"""`make bench`: benchmarks, each printing figures beside a baseline run in the same process."""

from __future__ import annotations

import argparse
import sys

from bench import coldstart


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("which", nargs="?", default="coldstart", choices=["coldstart"])
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per handler (>= 9)")
    args = parser.parse_args(argv)
    return coldstart.run(max(args.runs, 9))


if __name__ == "__main__":
    sys.exit(main())
