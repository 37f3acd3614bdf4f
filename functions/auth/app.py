"""AuthFunction: registration, login and sessions, the current user, e-mail verification and
passwords (contract §2 and §7)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.auth import service
from nexus.auth.models import (
    Accepted,
    ChangeIn,
    EmailTokenIn,
    ForgotIn,
    LoginIn,
    RefreshIn,
    RegisterIn,
    RegisterOut,
    ResetIn,
    TokenOut,
    UserOut,
)
from nexus.http import (
    Caller,
    ClientIp,
    RefreshCookie,
    create_app,
    forget_refresh_cookie,
    handle,
    responses,
    with_refresh_cookie,
)
from nexus.observability import logger

app = create_app()


@app.post(
    "/auth/register", status_code=201, responses=responses(201, errors=(400, 409, 413, 422, 503))
)
def register(body: RegisterIn) -> Response[RegisterOut]:
    return with_refresh_cookie(app, service.register(body), status=201)


@app.post("/auth/login", responses=responses(200, errors=(400, 401, 413, 422, 429, 503)))
def login(body: LoginIn, ip: ClientIp) -> Response[TokenOut]:
    return with_refresh_cookie(app, service.login(body, ip))


@app.post(
    "/auth/refresh",
    responses=responses(200, errors=(400, 401, 413, 422, 503)),
    description="The refresh token from the body, else from the refresh_token cookie.",
)
def refresh(cookie: RefreshCookie, body: RefreshIn | None = None) -> Response[TokenOut]:
    token = body.refresh_token if body and body.refresh_token else cookie
    return with_refresh_cookie(app, service.refresh(token))


@app.post(
    "/auth/logout",
    status_code=204,
    responses=responses(204, errors=(400, 413, 422, 503)),
    description="The refresh token from the body, else from the refresh_token cookie.",
)
def logout(cookie: RefreshCookie, body: RefreshIn | None = None) -> Response[None]:
    service.logout(body.refresh_token if body and body.refresh_token else cookie)
    return forget_refresh_cookie(app)


@app.post("/auth/logout-all", status_code=204, responses=responses(204, errors=(400, 503)))
def logout_all(who: Caller) -> Response[None]:
    service.logout_all(who)
    return forget_refresh_cookie(app)


@app.get("/auth/me", responses=responses(200, errors=(404, 503)))
def me(who: Caller) -> UserOut:
    return service.me(who.user_id)


@app.post("/auth/verify-email", responses=responses(200, errors=(400, 413, 422, 503)))
def verify_email(body: EmailTokenIn) -> UserOut:
    return service.verify_email(body)


@app.post(
    "/auth/verify-email/resend", status_code=202, responses=responses(202, errors=(400, 404, 503))
)
def resend_verification(who: Caller) -> Accepted:
    service.resend_verification(who)
    return Accepted()


@app.post(
    "/auth/password/forgot",
    status_code=202,
    responses=responses(202, errors=(400, 413, 422, 503)),
)
def forgot_password(body: ForgotIn) -> Accepted:
    service.forgot_password(body)
    return Accepted()


@app.post(
    "/auth/password/reset", status_code=204, responses=responses(204, errors=(400, 413, 422, 503))
)
def reset_password(body: ResetIn) -> None:
    service.reset_password(body)


@app.post(
    "/auth/password/change",
    status_code=204,
    responses=responses(204, errors=(400, 401, 404, 413, 422, 429, 503)),
)
def change_password(body: ChangeIn, who: Caller, ip: ClientIp) -> None:
    service.change_password(who, body, ip)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Answers carry access tokens: no cache may keep them.
    return handle(app, event, context, no_store=True)
