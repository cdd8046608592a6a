"""Alerts: from findings to messages people act on (Alertmanager's model, durable delivery).

- :mod:`alerts.config` — the ``[alerts]`` table: routes, receivers, delivery settings.
- :mod:`alerts.alert` — findings of a run become alerts with a fingerprint from sorted labels.
- :mod:`alerts.lifecycle` — fire, stay, clear with hysteresis, resolve (pure, clock passed in).
- :mod:`alerts.routing`, :mod:`alerts.silences` — which receivers, which group; what is muted.
- :mod:`alerts.notify` — the send decision, a pure function that returns its reason.
- :mod:`alerts.notification`, :mod:`alerts.render` — the message, merged backlog, Block Kit/text.
- :mod:`alerts.delivery` (what a receiver reports), :mod:`alerts.slack`, :mod:`alerts.webhook`,
  :mod:`alerts.console` (the senders), :mod:`alerts.receivers` (builds them from config).

The store and the dispatcher that use these live in :mod:`monitor.alerting` (recording and delivery).
"""
