"""Configuration: one pydantic model parsed from the environment once per execution environment.

Nothing reads ``os.environ`` at import time; call :func:`get_settings` inside a handler.
Secrets come from the environment when set (local runs, tests) and otherwise from
Secrets Manager through the ``*_SECRET_ARN`` variables (see :mod:`nexus.secrets`).
"""

from __future__ import annotations

import os
import threading

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Database: DATABASE_URL locally (the owner's; with DB_USER, that server as DB_USER's
    # role); on AWS the RDS Proxy endpoint with IAM authentication for DB_USER (a short-lived
    # token per connection, TLS required). DB_SECRET_ARN only for the migration: the owner
    # logs in to the cluster with the master secret's password.
    database_url: str | None = None
    db_host: str | None = None
    db_port: int = 5432
    db_name: str = "nexus"
    db_user: str | None = None
    db_secret_arn: str | None = None
    aws_region: str = "us-east-1"
    # Contract §6: a connection attempt gives up within 3 s (then 503 + Retry-After).
    db_connect_timeout: int = Field(default=3, ge=1, le=3)
    db_retry_after_seconds: int = Field(default=2, ge=1, le=120)

    # Tokens
    jwt_secret: str | None = None
    jwt_secret_arn: str | None = None
    jwt_issuer: str = "nexus-sales"
    jwt_audience: str = "nexus-sales-api"
    # The contract caps token lifetime at one hour.
    # Access tokens live at most 15 minutes (contract §7); sessions continue by refresh token.
    jwt_ttl_seconds: int = Field(default=900, ge=60, le=900)

    # Passwords
    password_pepper: str | None = None
    password_pepper_arn: str | None = None
    # Production stores cost >= 12; the floor of 4 exists so the test suite stays fast.
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    login_max_failures: int = Field(default=5, ge=1)
    # Failed logins counted per client IP (across accounts) in the same window.
    login_ip_limit: int = Field(default=20, ge=1)
    # The secret header CloudFront adds to origin requests (X-Origin-Verify): only then is
    # the viewer address it forwards (CloudFront-Viewer-Address) trusted as the client IP,
    # and with ORIGIN_VERIFY_REQUIRED a request without it is refused (403), so that nothing
    # reaches the API around the distribution and its WAF (nexus.http, docs/deploy.md). The
    # value is a plain string, or a JSON object {"current", "previous"} (the secret's shape on
    # AWS; both are accepted while a rotation reaches every CloudFront edge).
    origin_verify_secret: str | None = None
    origin_verify_secret_arn: str | None = None
    origin_verify_required: bool = False
    login_window_seconds: int = Field(default=900, ge=60)
    # Verification and reset e-mails: at most this many per address per hour (contract §7).
    link_emails_per_hour: int = Field(default=5, ge=1)
    # forgot-password answers no sooner than this, known address or not, so its timing tells
    # nothing; well above the work either way takes.
    forgot_floor_seconds: float = Field(default=0.4, ge=0, le=5)

    # Payments (contract §8): Stripe's API key and webhook signing secret, its API base (the
    # sandbox locally), the client's timeouts (connect, read) and the budget for a call with
    # its one retry (inside the API functions' 10 s), how long a Checkout Session
    # stays open (Stripe allows 30 min - 24 h), how soon a refused client may retry, the
    # platform fee in basis points of each paid order, and the expiry sweep's batch and the
    # grace it gives Stripe's own expiry before asking.
    stripe_secret_key: str | None = None
    stripe_secret_key_arn: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_webhook_secret_arn: str | None = None
    stripe_api_base_url: str = "https://api.stripe.com"
    stripe_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    stripe_read_timeout_seconds: float = Field(default=5.0, gt=0, le=80)
    stripe_budget_seconds: float = Field(default=7.0, gt=0, le=80)
    stripe_retry_after_seconds: int = Field(default=5, ge=1, le=300)
    checkout_session_minutes: int = Field(default=60, ge=31, le=1440)
    platform_fee_bps: int = Field(default=500, ge=0, le=10_000)
    order_expiry_batch: int = Field(default=100, ge=1, le=1000)
    order_expiry_grace_seconds: int = Field(default=60, ge=0, le=3600)

    # Product files (contract §8): the private bucket, how long an upload URL and a
    # download URL are valid (a download link at most 15 minutes).
    files_bucket: str | None = None
    file_upload_seconds: int = Field(default=900, ge=60, le=3600)
    file_download_seconds: int = Field(default=900, ge=60, le=900)

    # Analytics exports (contract §10, nexus.exports): the private bucket and the queue
    # ExportFunction consumes; how long an export's link may be asked for after it was
    # requested (ExportsBucket's lifecycle deletes the objects after ExportRetentionDays, more
    # than this plus the worker's run); the multipart upload's part size (S3 refuses a part
    # under 5 MiB but the last: smaller values are for tests against moto with its minimum
    # lowered); rows per FETCH of the worker's server-side cursor; the time kept back from the
    # invocation for aborting and giving the message back; how many receives an export that
    # runs out of time gets before it is marked failed.
    exports_bucket: str | None = None
    export_queue_url: str | None = None
    export_expiry_hours: int = Field(default=24, ge=1, le=24)
    export_part_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024, le=512 * 1024 * 1024)
    export_batch_rows: int = Field(default=5000, ge=100, le=100_000)
    export_deadline_margin_seconds: float = Field(default=30.0, ge=0, le=300)
    export_max_attempts: int = Field(default=3, ge=1, le=10)

    # Provider access tokens are encrypted at rest with this AES-256 key (base64).
    token_encryption_key: str | None = None
    token_encryption_key_arn: str | None = None

    # The sales funnel's visitor key (nexus.products.visitors): store page views are counted
    # per HMAC of (day, IP, User-Agent) under it, never per raw IP or User-Agent.
    visitor_key: str | None = None
    visitor_key_arn: str | None = None

    # Connecting Meta accounts (contract §9): the Facebook app's id and secret (the secret
    # signs appsecret_proof and Meta's signed_request), where its Login dialog is, and the
    # Facebook Login for Business configuration used instead of scopes when set.
    meta_app_id: str | None = None
    meta_app_secret: str | None = None
    meta_app_secret_arn: str | None = None
    meta_oauth_dialog_url: str = "https://www.facebook.com"
    meta_login_config_id: str | None = None

    # Graph API and ingestion
    graph_api_base_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v23.0"
    graph_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    graph_retries: int = Field(default=3, ge=0, le=10)
    # Stop calling Graph once any usage header reports this percentage of the quota.
    graph_usage_ceiling: int = Field(default=90, ge=1, le=100)
    ingest_window_days: int = Field(default=28, ge=1, le=93)
    # Growth (contract §10): metric months kept (whole months are dropped), partitions made
    # ahead, and the UTC hour by which the day's run should have finished (else the
    # IngestRunsUnfinished metric counts what is left, and its alarm fires).
    metrics_retention_months: int = Field(default=25, ge=2, le=240)
    metric_partitions_ahead: int = Field(default=3, ge=1, le=24)
    ingest_finish_by_hour: int = Field(default=9, ge=0, le=23)
    ingest_queue_url: str | None = None
    ingest_dlq_url: str | None = None
    # Time budgets (contract §6): kept back from the invocation's remaining time for
    # recording outcomes and giving messages back; the least time a job needs to be started;
    # how soon a message given back is visible again.
    ingest_deadline_margin_seconds: float = Field(default=5.0, ge=0, le=60)
    ingest_job_budget_seconds: float = Field(default=15.0, ge=0, le=900)
    ingest_requeue_delay_seconds: int = Field(default=2, ge=0, le=900)
    # Every boto3 client of the layer (SQS, Secrets Manager): timeouts and total attempts.
    aws_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    aws_read_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    aws_max_attempts: int = Field(default=3, ge=1, le=10)

    # Email (nexus.outbox): SES v2 sender and configuration set, the web app's origin for
    # links, the queue the outbox relays to; the sweep's ages (a row not relayed after
    # OUTBOX_RELAY_AFTER_SECONDS is relayed by MaintenanceFunction; one relayed but still
    # unsent after OUTBOX_RESEND_AFTER_SECONDS, a lost message, is relayed again while it has
    # had fewer than OUTBOX_MAX_ATTEMPTS sends tried, NotifyQueue's maxReceiveCount); how long
    # a claim holds a row; the first retry delay after a transient SES error (doubling).
    email_from: str | None = None
    ses_configuration_set: str | None = None
    web_base_url: str = "http://127.0.0.1:8080"
    notify_queue_url: str | None = None
    outbox_relay_after_seconds: int = Field(default=60, ge=0, le=3600)
    outbox_resend_after_seconds: int = Field(default=1800, ge=60, le=86_400)
    outbox_max_attempts: int = Field(default=5, ge=1, le=100)
    outbox_sweep_batch: int = Field(default=100, ge=1, le=1000)
    outbox_claim_lease_seconds: int = Field(default=120, ge=1, le=3600)
    notify_retry_base_seconds: int = Field(default=30, ge=0, le=900)

    # Bodies above this are refused with 413 before any parsing.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)


_ENV_NAMES: dict[str, str] = {name: name.upper() for name in Settings.model_fields}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {field: env[var] for field, var in _ENV_NAMES.items() if env.get(var)}
    return Settings.model_validate(values)


class _SettingsCache(threading.local):
    """One parsed Settings per thread: a Lambda execution environment has one thread, and
    each environment the local stack emulates on a thread reads its own function's
    environment. ``cache_clear`` (tests, the local tools) makes every thread parse again."""

    generation = 0  # class-level: shared by every thread
    settings: Settings | None = None
    seen = -1

    def __call__(self) -> Settings:
        if self.settings is None or self.seen != _SettingsCache.generation:
            self.settings, self.seen = load_settings(), _SettingsCache.generation
        return self.settings

    def cache_clear(self) -> None:
        _SettingsCache.generation += 1


get_settings = _SettingsCache()
