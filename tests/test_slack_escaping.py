"""Every value interpolated into a Slack message is escaped, in the blocks and in the ``text`` fallback.

Values come from logs and config (category values, feature names, model versions, messages): a
``<!channel>`` among them must reach Slack as ``&lt;!channel&gt;``, never as a mention or a link.
The message goes through slack-sdk to the fake Slack, and the test reads what Slack received.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from alerts.notification import AlertView, Notification, RunInfo
from tests.fake_slack import FakeSlack
from tests.test_alerts_slack import NOW, TOKEN, _sender

#: One hostile value per interpolated field, each told apart by its tag.
FIELDS = (
    "message",
    "subject",
    "check",
    "method",
    "evidence",
    "resolved",
    "action",
    "reason",
    "version",
    "group",
    "also",
)


def hostile(field: str) -> str:
    return f"<!channel> <http://evil.example|{field}> &amp;"


def escaped(field: str) -> str:
    return f"&lt;!channel&gt; &lt;http://evil.example|{field}&gt; &amp;amp;"


def _notification() -> Notification:
    def alert(fp: str, status: str, message: str) -> AlertView:
        return AlertView(
            fp,
            {"model": "fraud", "check": hostile("check"), "subject": hostile("subject")},
            "alert",
            status,  # type: ignore[arg-type]
            NOW.isoformat(),
            annotations={
                "message": message,
                "method": hostile("method"),
                "statistic": 0.3,
                "threshold": 0.2,
                "evidence": {hostile("evidence"): 12},
            },
        )

    return Notification(
        hostile("group"),
        "slack",
        "fraud",
        "first_notification",
        (
            alert("fp1", "firing", hostile("message")),
            alert("fp2", "firing", hostile("also")),
            alert("fp3", "resolved", hostile("resolved")),
        ),
        RunInfo(
            7, NOW.isoformat(), NOW.isoformat(), model_version=hostile("version"), report_url="http://r/7"
        ),
        ({"action": hostile("action"), "reasons": [hostile("reason")]},),
    )


def _mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn: ``text`` and the mrkdwn texts of the blocks."""
    out = [message["text"]]
    for block in message["blocks"]:
        texts = [block.get("text"), *block.get("elements", [])]
        out += [t["text"] for t in texts if isinstance(t, dict) and t.get("type") == "mrkdwn"]
    return out


@pytest.fixture
def posted() -> Iterator[dict[str, Any]]:
    with FakeSlack(token=TOKEN, channels={"#alerts"}) as slack:
        assert _sender(slack).deliver(_notification()).delivered
        yield slack.messages[-1]


def test_no_raw_mention_or_link_reaches_slack(posted: dict[str, Any]) -> None:
    for text in _mrkdwn_texts(posted):
        assert "<!channel>" not in text and "<http" not in text, text


@pytest.mark.parametrize("field", FIELDS)
def test_every_field_arrives_escaped_in_the_blocks(posted: dict[str, Any], field: str) -> None:
    blocks = " ".join(_mrkdwn_texts(posted)[1:])
    assert escaped(field) in blocks, f"{field} is not escaped in the blocks"


@pytest.mark.parametrize("field", ["message", "also", "action", "reason"])
def test_every_field_of_the_text_fallback_arrives_escaped(posted: dict[str, Any], field: str) -> None:
    """Reproducer: a category value ``<!channel>`` reached Slack raw in ``text``."""
    assert escaped(field) in posted["text"], f"{field} is not escaped in the text fallback"
