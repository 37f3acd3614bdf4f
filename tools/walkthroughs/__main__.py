"""``make walkthrough ARGS="[account] [commerce] [metrics] [connect]"``: the README's
walk-throughs against the running local stack (found through ``.local/stack.json``;
``NEXUS_LOCAL_DIR`` and ``PORT`` as for the stack). Each prints its steps, can be run
again and again, and exits non-zero when a step gets an answer it does not expect."""

from __future__ import annotations

import argparse
import sys

from walkthroughs import account, commerce, connect, metrics
from walkthroughs.client import Api, WalkthroughFailed

WALKTHROUGHS = {
    "account": account.run,
    "commerce": commerce.run,
    "metrics": metrics.run,
    "connect": connect.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make walkthrough", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"{' | '.join(WALKTHROUGHS)} (default: all)"
    )
    parser.add_argument("--api", help="the HTTP API's base URL (default: the running stack's)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in WALKTHROUGHS]
    if unknown:
        parser.error(
            f"no walk-through named {', '.join(unknown)} (choose from {', '.join(WALKTHROUGHS)})"
        )
    for name in args.names or list(WALKTHROUGHS):
        api = Api(args.api)
        print(f"== walk-through: {name} (HTTP API {api.base})")
        try:
            WALKTHROUGHS[name](api)
        except WalkthroughFailed as exc:
            print(f"error: walk-through {name} failed: {exc}", file=sys.stderr)
            return 1
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
