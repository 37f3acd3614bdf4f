"""HTTP plumbing shared by every API function.

- :func:`create_app` builds a Powertools ``APIGatewayHttpResolver`` with validation on and
  maps every error, domain or framework, to RFC 9457 problem+json in this one place.
- :func:`handle` guards the raw event before routing: body size (413), content type and
  encoding (400). Bodies are JSON, but on the routes a function declares to take a form
  (``form_routes``: Meta's callbacks), which take ``application/x-www-form-urlencoded`` only.
- :func:`handle` also refuses (403) a request that did not come through the web distribution
  when ``ORIGIN_VERIFY_REQUIRED`` is set: CloudFront adds the origin-verify secret header
  (:func:`from_distribution`), so a direct call to the execute-api endpoint cannot go around
  the distribution's WAF; the webhooks third parties sign (:data:`SIGNED_ROUTES`) are exempt.
- :data:`Caller` is the dependency (Powertools ``Depends``) that reads the caller from the
  Lambda authorizer's context: the only place a protected handler learns who is calling.

No ``from __future__ import annotations`` here or in the API entry modules: Powertools reads
a route's and its dependencies' type hints on every request that uses ``Depends``, and
string annotations would be evaluated each time (~0.2 ms per request, measured in make bench).
"""

import base64
import binascii
import hmac
import ipaddress
import json
from collections.abc import Collection, Mapping
from http import HTTPStatus
from typing import Annotated, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Depends, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, SecretStr

from nexus import strict_json
from nexus.errors import (
    BadRequest,
    Forbidden,
    NexusError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from nexus.identity import Identity, Visitor
from nexus.observability import logger
from nexus.secrets import resolve_secret
from nexus.settings import get_settings

PROBLEM_JSON = "application/problem+json"
FORM_URLENCODED = "application/x-www-form-urlencoded"
_BODY_METHODS = {"POST", "PUT", "PATCH"}


PROBLEM_REF = "#/components/schemas/Problem"


def responses(*success: int, errors: tuple[int, ...] = ()) -> dict[int, Any]:
    """OpenAPI responses for a route: success codes take their schema from the handler's
    return annotation (204 has none); error codes are problem+json."""
    docs: dict[int, Any] = {}
    for code in success:
        docs[code] = {"description": HTTPStatus(code).phrase}
        if code == HTTPStatus.NO_CONTENT:
            docs[code]["content"] = {}
    for code in errors:
        docs[code] = {
            "description": HTTPStatus(code).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
        }
    return docs


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    type_uri: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    body: dict[str, Any] = {"type": type_uri, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return Response(
        status_code=status,
        content_type=PROBLEM_JSON,
        body=json.dumps(body, ensure_ascii=False),
        headers=headers,
    )


def problem_from(exc: NexusError) -> Response[str]:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return problem(
        exc.status,
        exc.title,
        exc.detail,
        type_uri=exc.type_uri,
        errors=exc.errors,
        headers=headers,
    )


def create_app() -> APIGatewayHttpResolver:
    # Bodies are parsed (when a route's model asks for one, so after a webhook's signature
    # check) by the one JSON loader, with its depth, duplicate-key and number limits; a body
    # that is not an object is refused (Powertools would validate a list's first item).
    app = APIGatewayHttpResolver(
        enable_validation=True, json_body_deserializer=strict_json.loads_object
    )

    @app.exception_handler(NexusError)
    def _domain(exc: NexusError) -> Response[str]:
        return problem_from(exc)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[str]:
        return problem_from(ValidationFailed.from_pydantic(map(_query_loc, exc.errors())))

    @app.exception_handler(RequestUnsupportedContentType)
    def _content_type(exc: RequestUnsupportedContentType) -> Response[str]:
        return problem_from(BadRequest("Content-Type must be application/json."))

    @app.not_found
    def _not_found(exc: NotFoundError) -> Response[str]:
        return problem_from(NotFound("No such route."))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return problem(500, "Internal Server Error", "An unexpected error occurred.")

    return app


def _query_loc(error: dict[str, Any]) -> dict[str, Any]:
    """A query model's field is located as the client sent it, ``["query", "limit"]``:
    Powertools inserts the handler's parameter name (by convention ``query``)."""
    loc = tuple(error.get("loc", ()))
    if loc[:2] == ("query", "query"):
        return {**error, "loc": ("query", *loc[2:])}
    return error


def _route(event: dict[str, Any]) -> tuple[str, str]:
    """The template route API Gateway matched (``routeKey``: ``"POST /webhooks/meta/..."``)."""
    method, _, path = str(event.get("routeKey", "")).partition(" ")
    return method.upper(), path


def _body_type(event: dict[str, Any], *, takes_form: bool) -> tuple[str, str]:
    """The canonical media type of the body, and what to call it in a refusal; a body the
    route does not take (its Content-Type, no parameter counted) is a BadRequest."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if takes_form:
        if content_type != FORM_URLENCODED:
            raise BadRequest(f"Content-Type must be {FORM_URLENCODED}.")
        return FORM_URLENCODED, "a UTF-8 form"
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise BadRequest("Content-Type must be application/json.")
    return "application/json", "UTF-8 JSON"


def _guard(
    event: dict[str, Any], form_routes: Collection[tuple[str, str]] = ()
) -> NexusError | None:
    """Checks API Gateway would not make for us, done before any parsing. A body is JSON,
    except on the routes in ``form_routes`` (method, template path), whose body is an
    ``application/x-www-form-urlencoded`` form and nothing else."""
    body = event.get("body")
    if body is None or body == "":
        return None
    raw_len = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())
    if raw_len > get_settings().max_body_bytes:
        return PayloadTooLarge("The request body exceeds 1 MiB.")
    method = str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()
    if method not in _BODY_METHODS:
        return None
    try:
        canonical, text = _body_type(event, takes_form=_route(event) in form_routes)
    except BadRequest as exc:
        return exc
    # Media types compare case-insensitively (contract §6); the resolver's own check does
    # not, so it is handed the canonical form.
    event["headers"] = {
        **{k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"},
        "content-type": canonical,
    }
    if event.get("isBase64Encoded"):
        try:
            decoded = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return BadRequest(f"The request body is not {text}.")
        event["body"], event["isBase64Encoded"] = decoded, False
    return None


# The header CloudFront adds to every origin request (its value: the origin-verify secret).
ORIGIN_VERIFY_HEADER = "x-origin-verify"

# Routes third parties call at the API's own endpoint, each authenticating itself by a
# signature its handler checks on the raw body (Stripe-Signature; Meta's signed_request): the
# origin check does not apply to them (docs/deploy.md, "Web app").
SIGNED_ROUTES = frozenset(
    {
        ("POST", "/webhooks/stripe"),
        ("POST", "/webhooks/meta/deauthorize"),
        ("POST", "/webhooks/meta/data-deletion"),
    }
)


def _accepted_values(raw: str) -> tuple[str, ...]:
    """The values the origin-verify secret accepts: a plain string, or the AWS secret's JSON
    ``{"current": ..., "previous": ...}`` (previous empty but during a rotation)."""
    if raw.lstrip().startswith("{"):
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            keys = ("current", "previous")
            return tuple(v for k in keys if isinstance(v := doc.get(k), str) and v)
    return (raw,) if raw else ()


def _origin_values() -> tuple[str, ...]:
    settings = get_settings()
    configured = settings.origin_verify_secret or settings.origin_verify_secret_arn
    if not configured and not settings.origin_verify_required:
        return ()
    try:  # required but not configured: resolve_secret's 503, a deployment error
        raw = resolve_secret(
            settings.origin_verify_secret,
            settings.origin_verify_secret_arn,
            name="origin-verify secret",
        )
    except NexusError:
        raise
    except Exception as exc:  # Secrets Manager unreachable or refusing: not the client's fault
        logger.warning("origin-verify secret not read", extra={"error": type(exc).__name__})
        raise ServiceUnavailable("The service is briefly unavailable.", retry_after=2) from exc
    return _accepted_values(raw)


def from_distribution(headers: Mapping[str, str]) -> bool:
    """Whether the request carries the origin-verify secret CloudFront adds (``headers`` with
    lower-case names); every accepted value is compared, each in constant time."""
    # "replace": a hostile header with a lone surrogate is a mismatch, not a 500.
    presented = headers.get(ORIGIN_VERIFY_HEADER, "").encode(errors="replace")
    matched = False
    for value in _origin_values():
        matched |= hmac.compare_digest(presented, value.encode())
    return matched


def _origin_check(event: dict[str, Any]) -> NexusError | None:
    """403 for a request that did not come through the web distribution, when the check is
    on (ORIGIN_VERIFY_REQUIRED) and the route is not one of the signed webhooks."""
    if not get_settings().origin_verify_required or _route(event) in SIGNED_ROUTES:
        return None
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    try:
        if from_distribution(headers):
            return None
    except NexusError as exc:
        return exc
    return Forbidden("Call this API through the web app's origin, under /api.")


def _no_content(result: dict[str, Any]) -> dict[str, Any]:
    """A 204 has no body (the resolver would serialise the handler's None as "null")."""
    if result.get("statusCode") == HTTPStatus.NO_CONTENT:
        result["body"] = ""
        result["headers"] = {
            k: v for k, v in (result.get("headers") or {}).items() if k.lower() != "content-type"
        }
    return result


def handle(
    app: APIGatewayHttpResolver,
    event: dict[str, Any],
    context: LambdaContext,
    *,
    no_store: bool = False,
    form_routes: Collection[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Guard, route and answer; ``no_store`` marks every answer ``Cache-Control: no-store``
    (the functions whose answers carry tokens); ``form_routes``, the (method, template path)
    of the routes whose body is a form instead of JSON (Meta's callbacks), read raw by their
    handler."""
    rejection = _origin_check(event) or _guard(event, form_routes)
    if rejection is not None:
        response = problem_from(rejection)
        headers = dict(response.headers)
        headers["Content-Type"] = PROBLEM_JSON
        result: dict[str, Any] = {
            "statusCode": response.status_code,
            "headers": headers,
            "body": response.body,
            "isBase64Encoded": False,
        }
    else:
        result = _no_content(app.resolve(event, context))
    if no_store:
        result["headers"] = {**(result.get("headers") or {}), "Cache-Control": "no-store"}
    return result


def caller(request: Request) -> Identity:
    """The caller the Lambda authorizer vouched for (its context: user and organization)."""
    event = cast(APIGatewayProxyEventV2, request.resolved_event)
    ctx = event.request_context.authorizer.get_lambda or {}
    user_id, org_id = ctx.get("user_id"), ctx.get("organization_id")
    if not user_id or not org_id:
        # Only reachable if a route was deployed without the authorizer.
        raise Unauthorized("Authentication required.")
    return Identity(
        user_id=str(user_id),
        organization_id=str(org_id),
        session_id=str(ctx.get("session_id") or "") or None,
    )


Caller = Annotated[Identity, Depends(caller)]


def _viewer_address(value: str | None) -> str | None:
    """The IP in CloudFront-Viewer-Address (``198.51.100.10:46532``, ``2001:db8::1:46532``)."""
    if not value or ":" not in value:
        return None
    host = value.rsplit(":", 1)[0].strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _client_ip(event: APIGatewayProxyEventV2, headers: dict[str, str]) -> str:
    if from_distribution(headers):
        viewer = _viewer_address(headers.get("cloudfront-viewer-address"))
        if viewer is not None:
            return viewer
    return event.request_context.http.source_ip


def client_ip(request: Request) -> str:
    """The client's address: the viewer address CloudFront forwards when the request proves
    it came through the distribution (the origin-verify secret), else the address API
    Gateway saw (contract §6)."""
    event = cast(APIGatewayProxyEventV2, request.resolved_event)
    return _client_ip(event, {k.lower(): v for k, v in (event.headers or {}).items()})


ClientIp = Annotated[str, Depends(client_ip)]


def visitor(app: APIGatewayHttpResolver) -> Visitor:
    """The current request's anonymous caller: :func:`client_ip` and the User-Agent. Read
    from the event, not through ``Depends``: the public store page would otherwise pay for
    Powertools reading its type hints on every request."""
    event = app.current_event
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    user_agent = headers.get("user-agent") or event.request_context.http.get("userAgent")
    return Visitor(ip=_client_ip(event, headers), user_agent=str(user_agent or ""))


# The refresh token's cookie (contract §7): for the web app, whose API is same-origin /api.
REFRESH_COOKIE = "refresh_token"
REFRESH_COOKIE_PATH = "/api/auth"
REFRESH_COOKIE_MAX_AGE = 30 * 24 * 3600


def refresh_cookie(request: Request) -> SecretStr | None:
    """The refresh cookie's token (a SecretStr: Powertools logs route arguments at DEBUG)."""
    event = cast(APIGatewayProxyEventV2, request.resolved_event)
    for cookie in event.cookies or []:
        name, _, value = cookie.partition("=")
        if name.strip() == REFRESH_COOKIE and value.strip():
            return SecretStr(value.strip())
    return None


RefreshCookie = Annotated[SecretStr | None, Depends(refresh_cookie)]


def _loopback(app: APIGatewayHttpResolver) -> bool:
    host = (app.current_event.headers or {}).get("host", "")
    return host.rsplit(":", 1)[0].strip("[]") in ("127.0.0.1", "localhost", "::1")


def _cookie(app: APIGatewayHttpResolver, value: str, max_age: int) -> Cookie:
    return Cookie(
        name=REFRESH_COOKIE,
        value=value,
        path=REFRESH_COOKIE_PATH,
        secure=not _loopback(app),  # browsers keep Secure cookies only over HTTPS
        http_only=True,
        same_site=SameSite.STRICT_MODE,
        max_age=max_age,
    )


def with_refresh_cookie[T: BaseModel](
    app: APIGatewayHttpResolver, answer: T, *, status: int = 200
) -> Response[T]:
    """``answer`` (a token pair) with its refresh token also set as the HttpOnly cookie."""
    token = str(getattr(answer, "refresh_token"))  # noqa: B009 - every pair model has one
    return Response(
        status_code=status,
        content_type="application/json",
        body=answer,
        cookies=[_cookie(app, token, REFRESH_COOKIE_MAX_AGE)],
    )


def forget_refresh_cookie(app: APIGatewayHttpResolver) -> Response[None]:
    """204, and the browser drops the refresh cookie."""
    return Response(status_code=204, body=None, cookies=[_cookie(app, "", 0)])
