"""Walk-through: daily metrics, dead letters and redrive.

The seller connects two sandbox pages, 3030 with an expired token; the scheduled fan-out
runs now; 1010 is ingested (ok), 3030 needs a new token and its job waits in the
dead-letter queue; the seller reconnects 3030, the operator redrives, the job succeeds.
On a second run the pages are connected already: 3030 gets its expired token back first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nexus_ops.__main__ import local_waiting
from nexus_ops.__main__ import main as ops

from walkthroughs.client import Api, WalkthroughFailed, show, wait_for

PAGES = {"1010": "demo-token-bakery", "3030": "demo-token-expired"}


def _connect(api: Api) -> dict[str, str]:
    ids: dict[str, str] = {}
    for page, token in PAGES.items():
        body = {"provider": "facebook", "external_id": page, "name": f"Page {page}"}
        reply = api.expect(
            f"connect sandbox page {page} (token {token})",
            "POST",
            "/integrations",
            {**body, "access_token": token},
            ok=(201, 409),
        )
        if reply.status == 201:
            ids[page] = reply.body["id"]
            continue
        listed = api.expect("already connected (an earlier run): find it", "GET", "/integrations")
        ids[page] = next(i["id"] for i in listed.body["items"] if i["external_id"] == page)
        api.expect(
            f"give page {page} its first-run token again",
            "PATCH",
            f"/integrations/{ids[page]}",
            {"access_token": token},
        )
    return ids


def _runs_since(api: Api, since: datetime, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Today's run of each page, if it finished after ``since``."""
    reply = api.call("GET", "/analytics/runs")
    by_id = {r["integration_id"]: r for r in reply.body.get("items", [])}
    fresh: dict[str, dict[str, Any]] = {}
    for page, integration in ids.items():
        run: dict[str, Any] = by_id.get(integration) or {}
        finished = run.get("finished_at")
        if finished and datetime.fromisoformat(finished) >= since:
            fresh[page] = run
    return fresh


def _ops(*argv: str) -> None:
    print(f'   $ make ops ARGS="--local {" ".join(argv)}"')
    if ops(["--local", *argv]) != 0:
        raise WalkthroughFailed(f'make ops ARGS="--local {" ".join(argv)}" failed')


def run(api: Api) -> None:
    api.sign_in()
    ids = _connect(api)

    fired_at = datetime.now(UTC)
    print(api.next_step("run the scheduled fan-out now (one job per active integration)"))
    _ops("fire")
    runs = wait_for(
        "pages 1010 and 3030 to be ingested",
        lambda: (found := _runs_since(api, fired_at, ids)).keys() == ids.keys() and found,
    )
    show(api.next_step("today's runs"), value=[runs["1010"], runs["3030"]])
    if (runs["1010"]["status"], runs["3030"]["status"]) != ("ok", "needs_reauth"):
        raise WalkthroughFailed(f"expected 1010 ok and 3030 needs_reauth, got {runs}")
    metrics = api.expect(
        "page 1010's daily metrics (one row per post per day)",
        "GET",
        f"/analytics/metrics?integration_id={ids['1010']}",
    ).body["items"]
    show(f"   {len(metrics)} rows, the first", value=metrics[0] if metrics else None)

    # The consumer records the run before it parks the job: wait for the job itself.
    wait_for(
        "page 3030's job to reach the dead-letter queue",
        lambda: local_waiting()["IngestDeadLetterQueue"] >= 1,
    )
    print(api.next_step("queue depths: 3030's job waits in the dead-letter queue"))
    _ops("queues")

    patched = api.expect(
        "the seller reconnects page 3030 with a new token",
        "PATCH",
        f"/integrations/{ids['3030']}",
        {"access_token": "demo-token-renewed"},
    ).body
    print(f"   page 3030 is {patched['status']} again")

    redriven_at = datetime.now(UTC)
    print(api.next_step("the operator redrives the dead-letter queue"))
    _ops("redrive")
    rerun = wait_for(
        "page 3030's job to run again",
        lambda: _runs_since(api, redriven_at, {"3030": ids["3030"]}).get("3030"),
    )
    show(api.next_step("page 3030's run"), value=rerun)
    if rerun["status"] != "ok":
        raise WalkthroughFailed(f"page 3030's run after the redrive is {rerun['status']}")
    print("done: both pages ingested, the dead-lettered job redriven")
