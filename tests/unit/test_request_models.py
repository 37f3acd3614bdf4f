"""The request models' rules (they do no I/O): PATCH nulls, date windows and ranges, the
password policy, cursors, and the one translation of pydantic errors into problems."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from nexus import pagination
from nexus.auth import policy
from nexus.auth.models import RegisterIn
from nexus.errors import BadRequest, NexusError, ValidationFailed
from nexus.integrations.models import NOT_TODAY, IntegrationPatch, SyncIn
from nexus.models.common import parse
from nexus.models.dates import DateRange, today
from nexus.pagination import Cursor, CursorParam
from nexus.products.models import ProductPatch
from tests.support.api import lambda_context
from tests.support.fakes import new_id


def _problem(model: type[BaseModel], data: Any, loc: tuple[str, ...] = ("body",)) -> NexusError:
    """The problem ``parse`` raises for ``data`` (it must raise one)."""
    with pytest.raises(NexusError) as caught:
        parse(model, data, loc=loc)
    return caught.value


def _locs(problem: NexusError) -> list[list[str | int]]:
    return [e["loc"] for e in problem.errors or []]


# -- PATCH bodies --------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["name", "price", "currency"])
def test_product_patch_refuses_null_for_a_required_field(field: str) -> None:
    problem = _problem(ProductPatch, {field: None})
    assert problem.status == 422
    assert problem.errors == [{"loc": ["body", field], "msg": "may not be null"}]


def test_product_patch_null_description_clears_it() -> None:
    patch = parse(ProductPatch, {"description": None}, loc=("body",))
    assert patch.changes() == {"description": None}


def test_product_patch_changes_hold_only_the_fields_sent() -> None:
    assert parse(ProductPatch, {}, loc=("body",)).changes() == {}
    patch = parse(ProductPatch, {"price": 10, "currency": "eur"}, loc=("body",))
    assert patch.changes() == {"price": 10, "currency": "EUR"}


@pytest.mark.parametrize("price", [10.0, "10", True, 0, 100_000_001])
def test_product_patch_refuses_a_price_it_would_have_to_coerce(price: Any) -> None:
    assert _locs(_problem(ProductPatch, {"price": price})) == [["body", "price"]]


def test_integration_patch_refuses_a_null_name() -> None:
    problem = _problem(IntegrationPatch, {"name": None})
    assert problem.errors == [{"loc": ["body", "name"], "msg": "may not be null"}]


def test_integration_patch_null_token_or_enabled_mean_no_change() -> None:
    # The documented schema lets these two be null: they then change nothing
    patch = parse(IntegrationPatch, {"access_token": None, "enabled": None}, loc=("body",))
    assert (patch.name, patch.access_token, patch.enabled) == (None, None, None)


# -- SyncIn --------------------------------------------------------------------------------
def test_sync_date_today_is_accepted() -> None:
    day = today()
    assert parse(SyncIn, json.dumps({"date": day.isoformat()}), loc=("body",)).date == day


@pytest.mark.parametrize("days_ago", [-1, 1, 366])
def test_sync_date_other_than_today_is_422(days_ago: int) -> None:
    # Lifetime insights cannot be fetched for the past (contract §10), nor the future.
    day = today() - dt.timedelta(days=days_ago)
    problem = _problem(SyncIn, json.dumps({"date": day.isoformat()}))
    assert problem.errors == [{"loc": ["body", "date"], "msg": NOT_TODAY}]


@pytest.mark.parametrize("value", ["2026-02-30", "yesterday", "01/03/2026"])
def test_sync_date_that_is_no_date_is_422(value: str) -> None:
    assert _locs(_problem(SyncIn, json.dumps({"date": value}))) == [["body", "date"]]


def test_sync_without_a_date_leaves_it_to_the_service() -> None:
    assert parse(SyncIn, b"{}", loc=("body",)).date is None


# -- DateRange -----------------------------------------------------------------------------
def test_date_range_defaults_to_the_28_days_up_to_today() -> None:
    dates = DateRange.model_validate({"from": None, "to": None})
    assert (dates.start, dates.end) == (today() - dt.timedelta(days=27), today())


def test_date_range_from_defaults_to_27_days_before_to() -> None:
    end = dt.date(2026, 3, 31)
    dates = DateRange.model_validate({"from": None, "to": end})
    assert (dates.start, dates.end) == (dt.date(2026, 3, 4), end)


def test_date_range_keeps_an_explicit_range() -> None:
    dates = DateRange.model_validate({"from": dt.date(2026, 1, 1), "to": dt.date(2026, 1, 1)})
    assert (dates.start, dates.end) == (dt.date(2026, 1, 1), dt.date(2026, 1, 1))


def test_date_range_from_after_to_is_422_at_from() -> None:
    data = {"from": dt.date(2026, 3, 2), "to": dt.date(2026, 3, 1)}
    problem = _problem(DateRange, data, loc=("query",))
    assert problem.errors == [{"loc": ["query", "from"], "msg": "must not be after 'to'"}]


def test_date_range_of_366_days_is_accepted_and_367_refused_at_to() -> None:
    start = dt.date(2025, 1, 1)
    accepted = DateRange.model_validate({"from": start, "to": start + dt.timedelta(days=366)})
    assert (accepted.end - accepted.start).days == 366
    data = {"from": start, "to": start + dt.timedelta(days=367)}
    assert _locs(_problem(DateRange, data, loc=("query",))) == [["query", "to"]]


def test_date_range_default_from_is_clamped_at_the_first_date() -> None:
    # date.min has no 27 days before it: the default is clamped instead of overflowing
    dates = DateRange.model_validate({"from": None, "to": dt.date.min})
    assert (dates.start, dates.end) == (dt.date.min, dt.date.min)


def test_date_range_accepts_a_to_string_without_from() -> None:
    dates = DateRange.model_validate({"to": "2026-03-31"})
    assert (dates.start, dates.end) == (dt.date(2026, 3, 4), dt.date(2026, 3, 31))


# -- the password policy -------------------------------------------------------------------
def _register_error(password: str) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        RegisterIn(email="ann@example.com", password=SecretStr(password))
    [error] = caught.value.errors()
    return dict(error)


@pytest.mark.parametrize("password", ["short12", "x" * 129, ""])
def test_password_outside_8_to_128_characters_is_refused(password: str) -> None:
    error = _register_error(password)
    assert (error["loc"], error["type"]) == (("password",), "password_length")


@pytest.mark.parametrize("password", ["Zq7!xv2m", "Zq7!xv2m" * 16])
def test_password_of_8_or_128_characters_is_accepted(password: str) -> None:
    policy.check(password)  # does not raise


def test_length_is_counted_after_nfc_normalisation() -> None:
    # Seven "é" typed as e + combining accent: 14 code points, 7 characters
    with pytest.raises(PydanticCustomError) as caught:
        policy.check("e\u0301" * 7)
    assert caught.value.type == "password_length"
    policy.check("e\u0301" * 8)


@pytest.mark.parametrize("password", ["password", "PASSWORD", "12345678", "iloveyou"])
def test_a_common_password_is_refused_in_any_case(password: str) -> None:
    error = _register_error(password)
    assert (error["loc"], error["type"]) == (("password",), "password_common")


def test_the_policy_error_never_echoes_the_password() -> None:
    problem = _problem(RegisterIn, {"email": "ann@example.com", "password": "Sh0rt!x"})
    assert problem.errors == [
        {"loc": ["body", "password"], "msg": "must be 8 to 128 characters long"}
    ]
    assert "Sh0rt!x" not in json.dumps(problem.errors)


# -- cursors -------------------------------------------------------------------------------
def _cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


STAMP = "2026-03-01T12:00:00+00:00"


def test_a_cursor_round_trips() -> None:
    created_at, item_id = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC), new_id()
    decoded = pagination.decode(pagination.encode(created_at, item_id))
    assert (decoded.created_at, decoded.id) == (created_at, item_id)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "!!!not-base64!!!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "A" * 513,
        _cursor({"t": "2026-03-01T12:00:00", "i": new_id()}),  # naive timestamp
        _cursor({"t": STAMP, "i": "not-a-uuid"}),
        _cursor({"t": "yesterday", "i": new_id()}),
        _cursor({"i": new_id()}),
        _cursor({"t": STAMP}),
    ],
    ids=[
        "empty",
        "not-base64",
        "not-json",
        "not-utf8",
        "too-long",
        "naive",
        "bad-id",
        "bad-time",
        "no-time",
        "no-id",
    ],
)
def test_a_cursor_we_did_not_issue_is_refused(value: str) -> None:
    with pytest.raises(PydanticCustomError) as caught:
        pagination.decode(value)
    assert caught.value.type == "cursor"


@pytest.mark.parametrize(
    "data",
    [[STAMP, "x"], 42, None, "text", {"t": 1_700_000_000, "i": "x"}, {"t": None, "i": "x"}],
    ids=["list", "number", "null", "string", "number-time", "null-time"],
)
def test_a_cursor_of_the_wrong_json_type_is_refused(data: Any) -> None:
    with pytest.raises(PydanticCustomError):
        pagination.decode(_cursor(data))


@pytest.mark.parametrize("item_id", [5, ["x"], {"x": 1}], ids=["number", "list", "object"])
def test_a_cursor_whose_id_is_not_a_string_is_refused(item_id: Any) -> None:
    with pytest.raises(PydanticCustomError):
        pagination.decode(_cursor({"t": STAMP, "i": item_id}))


def test_get_products_with_a_cursor_whose_id_is_a_number_is_422(make_event: Any) -> None:
    from functions.products import app

    cursor = _cursor({"t": STAMP, "i": 5})
    event = make_event(
        "GET", "/products", authorizer={"user_id": new_id(), "organization_id": new_id()}
    )
    event["rawQueryString"] = f"cursor={cursor}"
    event["queryStringParameters"] = {"cursor": cursor}
    result = app.lambda_handler(event, lambda_context("ProductsFunction"))
    assert result["statusCode"] == 422, result["body"]


def test_the_cursor_parameter_refuses_a_non_string_and_keeps_a_cursor() -> None:
    adapter: TypeAdapter[Cursor] = TypeAdapter(CursorParam)
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(12345)
    assert caught.value.errors()[0]["msg"] == "is not a cursor this API returned"
    already = Cursor(dt.datetime(2026, 3, 1, tzinfo=dt.UTC), new_id())
    assert adapter.validate_python(already) is already


# -- ValidationFailed.from_pydantic --------------------------------------------------------
def test_from_pydantic_keeps_loc_and_msg_only_under_the_prefix() -> None:
    errors: list[dict[str, Any]] = [
        {"type": "int_type", "loc": ("items", 0, "price"), "msg": "bad", "input": "s3cret"},
        {"type": "missing", "loc": (), "msg": "whole body"},
    ]
    problem = ValidationFailed.from_pydantic(errors, prefix=("body",))
    assert isinstance(problem, ValidationFailed)
    assert problem.status == 422
    assert problem.detail == "The request is not valid."
    # int positions stay ints; nothing but loc and msg (never the input) is kept
    assert problem.errors == [
        {"loc": ["body", "items", 0, "price"], "msg": "bad"},
        {"loc": ["body"], "msg": "whole body"},
    ]


def test_from_pydantic_fills_a_missing_msg_and_takes_a_detail() -> None:
    problem = ValidationFailed.from_pydantic([{"loc": ("x",)}], detail="The event is not valid.")
    assert problem.errors == [{"loc": ["x"], "msg": "invalid"}]
    assert problem.detail == "The event is not valid."


def test_from_pydantic_turns_malformed_json_into_a_400() -> None:
    errors = [{"type": "json_invalid", "loc": (), "msg": "Invalid JSON"}]
    problem = ValidationFailed.from_pydantic(errors, prefix=("body",))
    assert isinstance(problem, BadRequest)
    assert problem.status == 400
    assert problem.errors is None


def test_from_pydantic_on_a_real_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        ProductPatch.model_validate({"price": "10", "nope": 1})
    problem = ValidationFailed.from_pydantic(caught.value.errors(), prefix=("body",))
    assert sorted(map(str, _locs(problem))) == ["['body', 'nope']", "['body', 'price']"]


# -- ingest messages (contract §6: can never succeed → dead-letter at first receive) --------
@pytest.mark.parametrize(
    "change",
    [
        {"integration_id": "not-a-uuid"},
        {"organization_id": "1234\u0000"},
        {"snapshot_date": "9999-12-31"},
        {"snapshot_date": "0001-01-01"},
        {"snapshot_date": (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()},
        {"snapshot_date": (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=401)).isoformat()},
        {"schema_version": 2},
    ],
    ids=[
        "integration",
        "organization-nul",
        "far-future",
        "year-1",
        "30-days-ahead",
        "too-old",
        "v2",
    ],
)
def test_an_ingest_job_that_can_never_succeed_is_invalid(change: dict[str, Any]) -> None:
    from nexus.ingest.job import IngestJob

    body = {
        "schema_version": 1,
        "integration_id": new_id(),
        "organization_id": new_id(),
        "snapshot_date": dt.datetime.now(dt.UTC).date().isoformat(),
        **change,
    }
    with pytest.raises(ValidationError):
        IngestJob.model_validate_json(json.dumps(body))


def test_an_ingest_job_within_its_window_is_valid() -> None:
    from nexus.ingest.job import IngestJob

    for days in (-400, 0, 1):
        when = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)
        job = IngestJob(integration_id=new_id(), organization_id=new_id(), snapshot_date=when)
        assert IngestJob.model_validate_json(job.body()) == job
