"""The Slack receiver, through slack-sdk: a bot token (``chat.postMessage``) or an incoming webhook.

The token or webhook URL is read from the environment variable named in config and never
logged: the SDK's own loggers for these clients pass through a filter that redacts it, and
every error text is scrubbed.

Retries. The clients carry ``RateLimitErrorRetryHandler`` and ``ServerErrorRetryHandler``
subclasses whose sleep is injectable: a 429 whose ``Retry-After`` is at most ``max_retry_wait``
and a 500/503 are retried in-process (twice); a longer ``Retry-After`` or an exhausted retry
becomes a ``retry`` outcome with ``retry_after``, which the dispatcher persists in the outbox.
A timeout is *not* retried by the SDK, and not in-process here either: Slack may have posted the
message, so it becomes a ``retry`` outcome after the persisted backoff — at-least-once delivery,
a possible duplicate accepted over a possible loss.

Permanent errors (:data:`BROKEN_ERRORS`: bad or revoked token, unknown channel, bot not in the
channel, ...) return ``broken``; message errors (:data:`REJECTED_ERRORS`) return ``rejected``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from alerts.config import SlackReceiver
from alerts.delivery import DeliveryResult, identity_hash, retry_after, scrub
from alerts.notification import Notification
from alerts.render import plain_text, slack_blocks

log = logging.getLogger("driftwatch.alerts.slack")

#: Web API errors that mean the receiver cannot work until someone fixes its configuration.
BROKEN_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "restricted_action",
        "team_access_not_granted",
        "ekm_access_denied",
        "org_login_required",
        "access_denied",
    }
)
#: Web API errors that reject this one message (the receiver stays healthy).
REJECTED_ERRORS = frozenset(
    {"invalid_blocks", "invalid_arguments", "msg_too_long", "no_text", "too_many_attachments"}
)
#: Incoming-webhook answers (body text) that mean the webhook itself is broken.
WEBHOOK_BROKEN = frozenset(
    {
        "invalid_token",
        "no_service",
        "no_active_hooks",
        "channel_not_found",
        "channel_is_archived",
        "action_prohibited",
    }
)
TIMEOUT_DETAIL = "timed out (Slack may have posted it; the retry can duplicate it)"


class RateLimitRetry(RateLimitErrorRetryHandler):
    """Retries a 429 in-process when its Retry-After is short; sleeps with an injectable function."""

    def __init__(
        self,
        *,
        max_wait: float,
        sleep: Callable[[float], None],
        clock: Callable[[], datetime],
        max_retry_count: int = 2,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait
        self.sleep = sleep
        self.clock = clock

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        wait = retry_after(response.headers, self.clock()) if response is not None else None
        return super()._can_retry(state=state, request=request, response=response, error=error) and (
            wait is None or wait <= self.max_wait
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        wait = retry_after(response.headers, self.clock()) if response is not None else None
        self.sleep(1.0 if wait is None else wait)
        state.increment_current_attempt()


class ServerErrorRetry(ServerErrorRetryHandler):
    """Retries a 500/503 in-process with the SDK's backoff; sleeps with an injectable function."""

    def __init__(self, *, sleep: Callable[[float], None], max_retry_count: int = 2) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.sleep = sleep

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        self.sleep(self.interval_calculator.calculate_sleep_duration(state.current_attempt))
        state.increment_current_attempt()


class _Redact(logging.Filter):
    """Replaces a secret in every record of one SDK client's logger."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg, record.args = message.replace(self._secret, "[redacted]"), None
        return True


def _client_logger(name: str, secret: str) -> logging.Logger:
    logger = logging.getLogger(f"driftwatch.alerts.slack.sdk.{name}")
    for old in [f for f in logger.filters if isinstance(f, _Redact)]:
        logger.removeFilter(old)
    logger.addFilter(_Redact(secret))
    return logger


class SlackSender:
    def __init__(
        self,
        spec: SlackReceiver,
        environ: Mapping[str, str],
        *,
        max_retry_wait: float = 5.0,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        import time

        self._clock = clock or (lambda: datetime.now(UTC))
        self.name = spec.name
        self._spec = spec
        env_name = spec.token_env or spec.webhook_url_env
        self._env_name = env_name
        self._secret = environ.get(env_name or "") or None
        sleep = sleep or time.sleep
        self._handlers: list[RetryHandler] = [
            RateLimitRetry(max_wait=max_retry_wait, sleep=sleep, clock=self._clock),
            ServerErrorRetry(sleep=sleep),
        ]

    def identity(self) -> str:
        return identity_hash(self._spec.model_dump(mode="json"), self._secret)

    def deliver(self, notification: Notification) -> DeliveryResult:
        if not self._secret:
            return DeliveryResult("broken", f"environment variable {self._env_name} is not set")
        try:
            if self._spec.token_env:
                return self._post(notification, self._secret)
            return self._send_webhook(notification, self._secret)
        except (TimeoutError, SlackRequestError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError):
                return DeliveryResult("retry", TIMEOUT_DETAIL)
            return DeliveryResult("retry", scrub(f"connection failed: {reason}", [self._secret]))

    def auth_test(self) -> DeliveryResult:
        """Check the bot token with ``auth.test`` (webhooks have no equivalent: ``delivered``)."""
        if not self._secret:
            return DeliveryResult("broken", f"environment variable {self._env_name} is not set")
        if not self._spec.token_env:
            return DeliveryResult("delivered")
        try:
            self._web_client(self._secret).auth_test()
        except SlackApiError as exc:
            return self._api_error(exc)
        return DeliveryResult("delivered")

    def _web_client(self, token: str) -> WebClient:
        return WebClient(
            token=token,
            base_url=self._spec.base_url,
            timeout=int(max(1, self._spec.timeout.total_seconds())),
            logger=_client_logger(self.name, token),
            retry_handlers=list(self._handlers),
        )

    def _post(self, notification: Notification, token: str) -> DeliveryResult:
        client = self._web_client(token)
        try:
            client.chat_postMessage(
                channel=self._spec.channel or "",
                text=plain_text(notification),
                blocks=slack_blocks(notification),
                unfurl_links=False,
            )
        except SlackApiError as exc:
            return self._api_error(exc)
        return DeliveryResult("delivered")

    def _api_error(self, exc: SlackApiError) -> DeliveryResult:
        response = exc.response
        status = response.status_code
        error = response.get("error") if isinstance(response.data, dict) else None
        if status == 429 or (status >= 500 and error is None):
            return DeliveryResult("retry", f"HTTP {status}", retry_after(response.headers, self._clock()))
        if error in BROKEN_ERRORS:
            return DeliveryResult("broken", f"Slack error {error}")
        if error in REJECTED_ERRORS:
            return DeliveryResult("rejected", f"Slack error {error}")
        return DeliveryResult(
            "retry", scrub(f"Slack error {error or 'unknown'} (HTTP {status})", [self._secret])
        )

    def _send_webhook(self, notification: Notification, url: str) -> DeliveryResult:
        client = WebhookClient(
            url,
            timeout=int(max(1, self._spec.timeout.total_seconds())),
            logger=_client_logger(self.name, url),
            retry_handlers=list(self._handlers),
        )
        response = client.send(text=plain_text(notification), blocks=slack_blocks(notification))
        status, body = response.status_code, (response.body or "").strip()
        if status == 200:
            return DeliveryResult("delivered")
        detail = scrub(f"webhook answered HTTP {status} {body[:80]}", [url])
        if status == 429 or status >= 500:
            return DeliveryResult("retry", detail, retry_after(response.headers, self._clock()))
        if body in WEBHOOK_BROKEN or status in {403, 404, 410}:
            return DeliveryResult("broken", detail)
        return DeliveryResult("rejected", detail)
