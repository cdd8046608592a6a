"""Routes: which receivers get an alert, and with which grouping and timers.

Follows Alertmanager: a tree of routes; a child's unset keys inherit from its parent; an alert
descends into the first matching child (and later siblings while ``continue`` is set); when no
child matches, the parent itself routes it.

>>> from alerts.config import AlertsConfig
>>> cfg = AlertsConfig.model_validate({
...     "receivers": [{"name": "console", "type": "console"}, {"name": "pager", "type": "webhook",
...                   "url_env": "U", "secret_env": "S"}],
...     "route": {"routes": [{"match": {"severity": "alert"}, "receivers": ["pager", "console"],
...                           "repeat_interval": "1h"}]}})
>>> [(r.receivers, r.repeat_interval.total_seconds()) for r in routes_for(cfg.route, {"severity": "alert"})]
[(('pager', 'console'), 3600.0)]
>>> routes_for(cfg.route, {"severity": "warn"})[0].receivers
('console',)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from alerts.config import RootRouteConfig, RouteConfig


@dataclass(frozen=True)
class Route:
    """A route with every key resolved (inheritance applied)."""

    path: str
    receivers: tuple[str, ...]
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    send_resolved: bool


def _inherit(parent: Route, child: RouteConfig, path: str) -> Route:
    def pick(name: str) -> Any:
        own = getattr(child, name)
        return getattr(parent, name) if own is None else own

    return Route(
        path=path,
        receivers=tuple(child.receivers) if child.receivers else parent.receivers,
        group_by=tuple(pick("group_by")),
        group_wait=pick("group_wait"),
        group_interval=pick("group_interval"),
        repeat_interval=pick("repeat_interval"),
        send_resolved=pick("send_resolved"),
    )


def root_route(config: RootRouteConfig) -> Route:
    """The root route resolved against its own defaults."""
    return Route(
        path="route",
        receivers=tuple(config.receivers),
        group_by=tuple(config.group_by),
        group_wait=config.group_wait,
        group_interval=config.group_interval,
        repeat_interval=config.repeat_interval,
        send_resolved=config.send_resolved,
    )


def matches(match: Mapping[str, str | Sequence[str]], labels: Mapping[str, str]) -> bool:
    """Whether every matcher holds: equality, or membership when the matcher is a list."""
    for key, wanted in match.items():
        value = labels.get(key)
        if isinstance(wanted, str):
            if value != wanted:
                return False
        elif value not in wanted:
            return False
    return True


def _descend(node: RouteConfig, resolved: Route, labels: Mapping[str, str]) -> list[Route]:
    found: list[Route] = []
    for i, child in enumerate(node.routes):
        if not matches(child.match, labels):
            continue
        child_route = _inherit(resolved, child, f"{resolved.path}.routes[{i}]")
        found.extend(_descend(child, child_route, labels))
        if not child.continue_:
            break
    return found or [resolved]


def routes_for(config: RootRouteConfig, labels: Mapping[str, str]) -> list[Route]:
    """The routes an alert with ``labels`` (identity labels plus ``severity``) takes."""
    return _descend(config, root_route(config), labels)


def group_key(route: Route, labels: Mapping[str, str]) -> str:
    """The group an alert belongs to on ``route``: its values of the ``group_by`` labels.

    >>> r = Route("route", ("console",), ("model",), timedelta(0), timedelta(0), timedelta(0), True)
    >>> group_key(r, {"model": "fraud", "check": "drift"})
    'model=fraud'
    """
    return ",".join(f"{key}={labels.get(key, '')}" for key in route.group_by) or "all"
