"""Alert routing and receiver configuration (the ``[alerts]`` table of config.toml).

``AlertsConfig()`` is valid on its own: every alert goes to the ``console`` receiver, which
prints the message to standard output, so the demo needs no Slack.

Keys
----
``[alerts]``
    ``resolve_after_windows`` (int, default 2): consecutive evaluated windows without the
    finding before a firing alert resolves (hysteresis: a value hovering at its threshold does
    not flap). ``resolve_timeout`` (duration, optional): an alert not seen for this long
    resolves on its own (e.g. its check was removed). Unset: never. ``max_notify_age``
    (duration, optional): a run whose window ended longer ago than this updates alert state
    and its report but pages nobody (a backfill or a catch-up over old history). Unset: twice
    the model's window plus its labels' ``max_delay``.
``[alerts.route]`` (the root route; children in ``[[alerts.route.routes]]``, nested as deep as needed)
    ``match`` (table, children only): label → value or list of values; labels are ``severity``,
    ``model``, ``check``, ``subject``. ``receivers`` (list of receiver names). ``group_by`` (list of
    labels, default ``["model"]``): alerts with equal values go in one message. ``group_wait``
    (default ``"0s"``): delay of a new group's first message. ``group_interval`` (default ``"5m"``):
    minimum gap between messages of one group when it changes. ``repeat_interval`` (default ``"4h"``):
    re-send an unchanged firing group no sooner than this. ``send_resolved`` (default true).
    ``continue`` (children only, default false): keep matching later siblings after this one.
    A child's unset keys are inherited from its parent; an alert goes to the first matching
    child (plus later ones while ``continue`` is set), or to the parent when none matches.
``[[alerts.receivers]]``
    ``name`` and ``type`` (``console``, ``slack``, ``webhook``); ``send_resolved`` (optional,
    overrides the route's). ``slack``: ``channel``, and exactly one of ``token_env`` (name of the
    environment variable holding a bot token, posts with ``chat.postMessage``) or
    ``webhook_url_env`` (variable holding an incoming-webhook URL); ``base_url`` (default
    ``"https://slack.com/api/"``, for proxies and GovSlack); ``timeout`` (default ``"10s"``).
    ``webhook``: ``url_env``, ``secret_env`` (variable holding the HMAC secret), ``timeout`` (the
    whole delivery's deadline, connecting to the last byte of the answer, and never more than
    half of ``delivery.lease``).
``[alerts.delivery]``
    ``initial_backoff`` (``"10s"``), ``max_backoff`` (``"10m"``): exponential backoff with jitter
    between delivery attempts, persisted in the outbox. ``lease`` (``"5m"``): how long a
    dispatcher owns claimed rows. ``batch_size`` (200): rows claimed per dispatch. ``max_retry_wait``
    (``"5s"``): a Retry-After up to this is waited for in-process; longer ones are persisted.

>>> AlertsConfig().route.receivers
['console']
>>> try:
...     AlertsConfig.model_validate({"route": {"receivers": ["slack"]}})
... except ValueError as exc:
...     print("route: unknown receiver 'slack'" in str(exc))
True
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.durations import Duration
from checks.vocabulary import CHECKS, resolve

MATCH_LABELS = frozenset({"severity", "model", "check", "subject"})
RECEIVER_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsoleReceiver(_Strict):
    name: str = Field(pattern=RECEIVER_NAME)
    type: Literal["console"] = "console"
    send_resolved: bool | None = None


class SlackReceiver(_Strict):
    name: str = Field(pattern=RECEIVER_NAME)
    type: Literal["slack"]
    channel: str | None = None
    token_env: str | None = Field(default=None, pattern=ENV_NAME)
    webhook_url_env: str | None = Field(default=None, pattern=ENV_NAME)
    base_url: str = "https://slack.com/api/"
    timeout: Duration = timedelta(seconds=10)
    send_resolved: bool | None = None

    @model_validator(mode="after")
    def _one_credential(self) -> SlackReceiver:
        if (self.token_env is None) == (self.webhook_url_env is None):
            raise ValueError("set exactly one of token_env (bot token) or webhook_url_env (incoming webhook)")
        if self.token_env is not None and not self.channel:
            raise ValueError("a bot-token Slack receiver needs a channel")
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError(f"base_url {self.base_url!r} must start with https:// or http://")
        return self


class WebhookReceiver(_Strict):
    name: str = Field(pattern=RECEIVER_NAME)
    type: Literal["webhook"]
    url_env: str = Field(pattern=ENV_NAME)
    secret_env: str = Field(pattern=ENV_NAME)
    timeout: Duration = timedelta(seconds=10)
    send_resolved: bool | None = None


ReceiverConfig = Annotated[ConsoleReceiver | SlackReceiver | WebhookReceiver, Field(discriminator="type")]


class RouteConfig(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    match: dict[str, str | list[str]] = Field(default_factory=dict)
    receivers: list[str] | None = None
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    send_resolved: bool | None = None
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RouteConfig] = Field(default_factory=list)

    @field_validator("match", "group_by")
    @classmethod
    def _known_labels(cls, value: dict[str, object] | list[str] | None) -> object:
        unknown = sorted(set(value or ()) - MATCH_LABELS)
        if unknown:
            raise ValueError(f"unknown label(s) {unknown} (use {sorted(MATCH_LABELS)})")
        if isinstance(value, dict) and "check" in value:
            wanted = value["check"]
            for name in [wanted] if isinstance(wanted, str) else wanted:
                resolve(name, CHECKS, "check")
        return value


class RootRouteConfig(RouteConfig):
    """The root route: every timer has a default, and it matches everything."""

    receivers: list[str] = Field(default_factory=lambda: ["console"])  # type: ignore[assignment]
    group_by: list[str] = Field(default_factory=lambda: ["model"])  # type: ignore[assignment]
    group_wait: Duration = timedelta(0)  # type: ignore[assignment]
    group_interval: Duration = timedelta(minutes=5)  # type: ignore[assignment]
    repeat_interval: Duration = timedelta(hours=4)  # type: ignore[assignment]
    send_resolved: bool = True  # type: ignore[assignment]

    @model_validator(mode="after")
    def _complete(self) -> RootRouteConfig:
        if self.match:
            raise ValueError("the root route matches every alert; put match on its routes")
        if not self.receivers:
            raise ValueError("the root route needs at least one receiver")
        return self


class DeliveryConfig(_Strict):
    initial_backoff: Duration = timedelta(seconds=10)
    max_backoff: Duration = timedelta(minutes=10)
    lease: Duration = timedelta(minutes=5)
    batch_size: int = Field(default=200, ge=1, le=10_000)
    max_retry_wait: Duration = timedelta(seconds=5)


def _default_receivers() -> list[ConsoleReceiver | SlackReceiver | WebhookReceiver]:
    return [ConsoleReceiver(name="console")]


class AlertsConfig(_Strict):
    resolve_after_windows: int = Field(default=2, ge=1, le=100)
    resolve_timeout: Duration | None = None
    max_notify_age: Duration | None = None
    route: RootRouteConfig = Field(default_factory=RootRouteConfig)
    receivers: list[ReceiverConfig] = Field(default_factory=_default_receivers)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)

    @model_validator(mode="after")
    def _receivers_exist(self) -> AlertsConfig:
        names = [r.name for r in self.receivers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"receivers: duplicate name(s) {duplicates}")
        known = set(names)

        def visit(route: RouteConfig, where: str) -> None:
            for name in route.receivers or ():
                if name not in known:
                    raise ValueError(f"{where}: unknown receiver {name!r} (configured: {', '.join(names)})")
            for i, child in enumerate(route.routes):
                visit(child, f"{where}.routes[{i}]")

        visit(self.route, "route")
        return self

    def receiver(self, name: str) -> ConsoleReceiver | SlackReceiver | WebhookReceiver:
        """The receiver called ``name``.

        :raises KeyError: no such receiver is configured.
        """
        for receiver in self.receivers:
            if receiver.name == name:
                return receiver
        raise KeyError(f"No alert receiver named {name!r} is configured")
