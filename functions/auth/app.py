"""AuthFunction: POST /auth/register, POST /auth/login, GET /auth/me."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.auth import service
from nexus.auth.models import LoginIn, RegisterIn, RegisterOut, TokenOut, UserOut
from nexus.http import Caller, ClientIp, create_app, handle, responses
from nexus.observability import logger

app = create_app()


@app.post(
    "/auth/register", status_code=201, responses=responses(201, errors=(400, 409, 413, 422, 503))
)
def register(body: RegisterIn) -> RegisterOut:
    return service.register(body)


@app.post("/auth/login", responses=responses(200, errors=(400, 401, 413, 422, 429, 503)))
def login(body: LoginIn, ip: ClientIp) -> TokenOut:
    return service.login(body, ip)


@app.get("/auth/me", responses=responses(200, errors=(404, 503)))
def me(who: Caller) -> UserOut:
    return service.me(who.user_id)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Answers carry access tokens: no cache may keep them.
    return handle(app, event, context, no_store=True)
