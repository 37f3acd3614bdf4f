"""nexus.integrations.service decisions, against an in-memory IntegrationRepository and a
recording job sender (no queue)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import SecretStr

from nexus import crypto
from nexus.errors import Conflict, NotFound
from nexus.identity import Identity
from nexus.integrations import service
from nexus.integrations.models import (
    AnalyticsQuery,
    Integration,
    IntegrationIn,
    IntegrationPatch,
    IntegrationStatus,
    MetricRow,
    MetricsQuery,
    Run,
    SyncIn,
)
from nexus.models.dates import today
from tests.support.fakes import (
    FakeIntegrationRepository,
    RecordingSender,
    new_id,
    seller,
)


@pytest.fixture
def repo() -> FakeIntegrationRepository:
    return FakeIntegrationRepository()


@pytest.fixture
def who() -> Identity:
    return seller()


def _connect(
    repo: FakeIntegrationRepository, who: Identity, external_id: str = "1010"
) -> Integration:
    body = IntegrationIn(
        provider="facebook",
        external_id=external_id,
        name="Bakery",
        access_token=SecretStr("page-token-1"),
    )
    integration, created = service.create(who, body, repo=repo)
    assert created
    return integration


def _sync(
    repo: FakeIntegrationRepository, who: Identity, raw_id: str, body: SyncIn | None = None
) -> RecordingSender:
    sender = RecordingSender()
    service.sync(who, raw_id, body, repo=repo, send=sender)
    return sender


# -- create / update / delete --------------------------------------------------------------
def test_create_stores_the_token_sealed_to_the_new_row(
    repo: FakeIntegrationRepository, who: Identity
) -> None:
    # When a seller connects a page
    created = _connect(repo, who)
    # Then it is active, and its token is stored encrypted, opening only with its own id
    assert created.status == "active"
    sealed = repo.integrations[created.id].token_ciphertext
    assert b"page-token-1" not in sealed
    assert crypto.decrypt(sealed, created.id) == "page-token-1"


def test_connecting_the_same_page_twice_is_409(
    repo: FakeIntegrationRepository, who: Identity
) -> None:
    _connect(repo, who)
    with pytest.raises(Conflict, match="already has an integration"):
        _connect(repo, who)
    assert len(repo.integrations) == 1


def test_another_organization_may_connect_the_same_page(
    repo: FakeIntegrationRepository, who: Identity
) -> None:
    _connect(repo, who)
    _connect(repo, seller())
    assert len(repo.integrations) == 2


@pytest.mark.parametrize("raw_id", ["nope", new_id()])
def test_update_of_an_unknown_integration_is_404(
    repo: FakeIntegrationRepository, who: Identity, raw_id: str
) -> None:
    with pytest.raises(NotFound, match="No such integration"):
        service.update(who, raw_id, IntegrationPatch(name="New"), repo=repo)


def test_update_of_another_organizations_integration_is_404(
    repo: FakeIntegrationRepository, who: Identity
) -> None:
    theirs = _connect(repo, seller())
    with pytest.raises(NotFound):
        service.update(who, theirs.id, IntegrationPatch(name="Mine now"), repo=repo)
    assert repo.integrations[theirs.id].row.name == "Bakery"


def test_update_with_a_new_token_reseals_it_and_revives_the_integration(
    repo: FakeIntegrationRepository, who: Identity
) -> None:
    # Given an integration whose token expired
    created = _connect(repo, who)
    repo.set_status(created.id, "needs_reauth")
    # When the seller sends a new token (and nothing else)
    patch = IntegrationPatch(access_token=SecretStr("renewed-token"))
    updated = service.update(who, created.id, patch, repo=repo)
    # Then the repository gets the new token sealed to this row, and no name or enabled change
    assert repo.last_update is not None
    sealed = repo.last_update["token_ciphertext"]
    assert crypto.decrypt(sealed, created.id) == "renewed-token"
    assert (repo.last_update["name"], repo.last_update["enabled"]) == (None, None)
    assert updated.status == "active"


def test_update_without_a_token_sends_no_ciphertext(
    repo: FakeIntegrationRepository, who: Identity
) -> None:
    created = _connect(repo, who)
    service.update(who, created.id, IntegrationPatch(enabled=False), repo=repo)
    assert repo.last_update == {"name": None, "token_ciphertext": None, "enabled": False}


@pytest.mark.parametrize("raw_id", ["nope", new_id()])
def test_delete_of_an_unknown_integration_is_404(
    repo: FakeIntegrationRepository, who: Identity, raw_id: str
) -> None:
    with pytest.raises(NotFound):
        service.delete(who, raw_id, repo=repo)


def test_list_shows_only_the_organizations_live_integrations(
    repo: FakeIntegrationRepository, who: Identity
) -> None:
    kept = _connect(repo, who, external_id="1")
    gone = _connect(repo, who, external_id="2")
    service.delete(who, gone.id, repo=repo)
    _connect(repo, seller(), external_id="3")
    assert [i.id for i in service.list_all(who, repo=repo).items] == [kept.id]


# -- sync ----------------------------------------------------------------------------------
def test_sync_queues_exactly_one_job_for_today(
    repo: FakeIntegrationRepository, who: Identity
) -> None:
    created = _connect(repo, who)
    # When the seller asks for a sync without a date (and spells the id in upper case)
    sender = _sync(repo, who, created.id.upper())
    # Then one call sends one job: this integration, this organization, today's snapshot
    assert len(sender.sent) == 1
    [job] = sender.sent[0]
    assert (job.integration_id, job.organization_id) == (created.id, who.organization_id)
    assert job.snapshot_date == today()


def test_sync_with_a_date_queues_that_date(repo: FakeIntegrationRepository, who: Identity) -> None:
    created = _connect(repo, who)
    day = today()
    sender = _sync(repo, who, created.id, SyncIn(date=day))
    assert [j.snapshot_date for j in sender.sent[0]] == [day]


@pytest.mark.parametrize("status", ["needs_reauth", "disabled"])
def test_sync_of_an_inactive_integration_is_409_and_sends_nothing(
    repo: FakeIntegrationRepository, who: Identity, status: IntegrationStatus
) -> None:
    created = _connect(repo, who)
    repo.set_status(created.id, status)
    sender = RecordingSender()
    with pytest.raises(Conflict, match=status):
        service.sync(who, created.id, None, repo=repo, send=sender)
    assert sender.sent == []


@pytest.mark.parametrize("raw_id", ["nope", new_id()])
def test_sync_of_an_unknown_integration_is_404_and_sends_nothing(
    repo: FakeIntegrationRepository, who: Identity, raw_id: str
) -> None:
    sender = RecordingSender()
    with pytest.raises(NotFound):
        service.sync(who, raw_id, None, repo=repo, send=sender)
    assert sender.sent == []


# -- analytics reads -----------------------------------------------------------------------
def _metric(integration_id: str, day: dt.date, content_id: str = "post-1") -> MetricRow:
    return MetricRow(
        integration_id=integration_id,
        provider="facebook",
        content_id=content_id,
        date=day,
        impressions=10,
        reach=None,
        reactions=3,
        video_views=None,
        clicks=1,
        comments=0,
        shares=None,
        saves=None,
        profile_visits=None,
        follows=None,
    )


def test_metrics_pass_the_range_and_filters_through(
    repo: FakeIntegrationRepository, who: Identity
) -> None:
    # Given metric rows inside and outside a range
    integration_id = new_id()
    inside, outside = dt.date(2026, 3, 10), dt.date(2026, 2, 1)
    repo.metric_rows += [
        (who.organization_id, _metric(integration_id, inside)),
        (who.organization_id, _metric(integration_id, outside)),
    ]
    query = MetricsQuery.model_validate(
        {"from": "2026-03-01", "to": "2026-03-31", "content_id": "post-1"}
    )
    # When the seller reads metrics for that range
    result = service.metrics(who, query, repo=repo)
    # Then the repository is asked for exactly that range, organization and filters
    assert repo.queries == [(who.organization_id, query)]
    assert [m.date for m in result.items] == [inside]
    assert result.next_cursor is None


def test_metrics_pages_follow_one_another_without_gaps_or_repeats(
    repo: FakeIntegrationRepository, who: Identity
) -> None:
    # Given 7 rows over two days and two integrations
    first, second = sorted([new_id(), new_id()])
    for day in (10, 11):
        for content in ("post-1", "post-2"):
            for integration in (first, second):
                if (day, content, integration) != (11, "post-2", second):
                    repo.metric_rows.append(
                        (who.organization_id, _metric(integration, dt.date(2026, 3, day), content))
                    )
    seen: list[tuple[dt.date, str, str]] = []
    cursor: str | None = None
    pages = 0
    # When the seller reads them 3 at a time, following next_cursor
    while True:
        params = {"from": "2026-03-01", "to": "2026-03-31", "limit": 3, "cursor": cursor}
        page = service.metrics(
            who, MetricsQuery.model_validate({k: v for k, v in params.items() if v}), repo=repo
        )
        pages += 1
        seen += [(m.date, m.content_id, m.integration_id) for m in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    # Then every row comes once, in (date, content_id, integration_id) order, in 3 pages
    assert pages == 3
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 7


def test_runs_pass_the_range_through(repo: FakeIntegrationRepository, who: Identity) -> None:
    run = Run(
        integration_id=new_id(),
        date=dt.date(2026, 3, 2),
        observed_date=dt.date(2026, 3, 3),
        status="ok",
        content_total=3,
        content_failed=0,
        finished_at=None,
        error_code=None,
    )
    repo.run_rows.append((who.organization_id, run))
    query = AnalyticsQuery.model_validate({"from": "2026-03-01", "to": "2026-03-02"})
    result = service.runs(who, query, repo=repo)
    assert repo.queries == [(who.organization_id, query)]
    assert result.items == [run]
