"""A fake Slack Web API on 127.0.0.1 for tests of the real slack-sdk client.

Serves ``POST /api/chat.postMessage``, ``POST /api/auth.test`` and incoming webhooks at
``POST /services/<path>``. It checks the bearer token and the payload shape like Slack does
(``not_authed``, ``invalid_auth``, ``channel_not_found``, ``no_text``, ``invalid_blocks``),
answers from a script when one is queued (an error code, HTTP 429 with Retry-After, HTTP 500,
a slow answer), and records every accepted message.

>>> with FakeSlack(token="xoxb-test", channels={"#alerts"}) as slack:
...     from slack_sdk import WebClient
...     client = WebClient(token="xoxb-test", base_url=slack.api_url)
...     _ = client.chat_postMessage(channel="#alerts", text="hi")
...     [m["text"] for m in slack.messages]
['hi']
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Answer:
    """One scripted answer: an HTTP status, a JSON (or text) body, headers, and a delay."""

    status: int = 200
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def error(cls, code: str) -> Answer:
        return cls(200, {"ok": False, "error": code})

    @classmethod
    def rate_limited(cls, retry_after: int = 0) -> Answer:
        return cls(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})

    @classmethod
    def server_error(cls, status: int = 500) -> Answer:
        return cls(status, "<html>Internal Server Error</html>")

    @classmethod
    def slow(cls, seconds: float) -> Answer:
        return cls(delay=seconds)


class FakeSlack:
    """The server; use as a context manager. ``api_url`` is the client's ``base_url``."""

    def __init__(self, *, token: str = "xoxb-fake", channels: set[str] | None = None) -> None:
        self.token = token
        self.channels = channels if channels is not None else {"#alerts"}
        self.webhook_paths: set[str] = {"/services/T000/B000/fakehook"}
        self.messages: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._scripts: dict[str, deque[Answer]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/services/T000/B000/fakehook"

    def script(self, endpoint: str, *answers: Answer) -> None:
        """Queue answers for ``endpoint`` (``"chat.postMessage"``, ``"auth.test"``, ``"webhook"``)."""
        with self._lock:
            self._scripts.setdefault(endpoint, deque()).extend(answers)

    def calls(self, endpoint: str) -> int:
        with self._lock:
            return sum(1 for name, _ in self.requests if name == endpoint)

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, endpoint: str) -> Answer | None:
        with self._lock:
            queue = self._scripts.get(endpoint)
            return queue.popleft() if queue else None

    def _api(self, endpoint: str, headers: Any, payload: dict[str, Any]) -> Answer:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return Answer.error("not_authed")
        if auth.removeprefix("Bearer ") != self.token:
            return Answer.error("invalid_auth")
        if endpoint == "auth.test":
            return Answer(200, {"ok": True, "team": "fake", "user": "driftwatch", "bot_id": "B1"})
        if endpoint != "chat.postMessage":
            return Answer(404, {"ok": False, "error": "unknown_method"})
        problem = self._check_message(payload, need_channel=True)
        if problem:
            return Answer.error(problem)
        with self._lock:
            self.messages.append(payload)
        return Answer(200, {"ok": True, "channel": "C1", "ts": f"{time.time():.6f}", "message": payload})

    def _check_message(self, payload: dict[str, Any], *, need_channel: bool) -> str | None:
        if need_channel and payload.get("channel") not in self.channels:
            return "channel_not_found"
        blocks = payload.get("blocks")
        if not payload.get("text") and not blocks:
            return "no_text"
        if blocks is not None:
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            if not isinstance(blocks, list) or len(blocks) > 50:
                return "invalid_blocks"
            for block in blocks:
                if not isinstance(block, dict) or "type" not in block:
                    return "invalid_blocks"
                text = block.get("text")
                if isinstance(text, dict) and len(text.get("text", "")) > 3000:
                    return "invalid_blocks"
            payload["blocks"] = blocks
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _payload(self) -> dict[str, Any]:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.headers.get_content_type() == "application/json":
                    return json.loads(raw or "{}")
                return {k: v[0] for k, v in parse_qs(raw).items()}

            def _reply(self, answer: Answer) -> None:
                if answer.delay:
                    time.sleep(answer.delay)
                body = answer.body if answer.body is not None else {"ok": True}
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(answer.status)
                kind = "text/html" if isinstance(body, str) else "application/json; charset=utf-8"
                self.send_header("Content-Type", kind)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                payload = self._payload()
                if self.path.startswith("/api/"):
                    endpoint = self.path.removeprefix("/api/").split("?")[0]
                elif self.path.startswith("/services/"):
                    endpoint = "webhook"
                else:
                    self._reply(Answer(404, "not found"))
                    return
                with fake._lock:
                    fake.requests.append((endpoint, payload))
                scripted = fake._next(endpoint)
                if scripted is not None and (scripted.status != 200 or scripted.body is not None):
                    self._reply(scripted)
                    return
                delay = scripted.delay if scripted is not None else 0.0
                if endpoint == "webhook":
                    answer = self._webhook(payload)
                else:
                    answer = fake._api(endpoint, self.headers, payload)
                self._reply(Answer(answer.status, answer.body, answer.headers, delay))

            def _webhook(self, payload: dict[str, Any]) -> Answer:
                if self.path not in fake.webhook_paths:
                    return Answer(403, "invalid_token")
                problem = fake._check_message(payload, need_channel=False)
                if problem:
                    return Answer(400, "invalid_blocks" if problem == "invalid_blocks" else "no_text")
                with fake._lock:
                    fake.messages.append(payload)
                return Answer(200, "ok")

        return Handler
