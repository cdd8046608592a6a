"""The read-only report viewer: what it serves, what it refuses, and the headers it sends."""

from __future__ import annotations

import doctest
import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitor.reports import server as report_server
from monitor.reports.server import CONTENT_SECURITY_POLICY, handle_report_request, make_report_server


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("srv")
    root = base / "reports"
    (root / "fraud").mkdir(parents=True)
    (root / "index.html").write_text("<html>index</html>")
    (root / "fraud" / "index.html").write_text("<html>model</html>")
    (root / "fraud" / "20260310T060000Z-run42.html").write_text("<html>report</html>")
    (root / "fraud" / "data.json").write_text("{}")
    (root / "fraud" / "run.py").write_text("print('source')")
    (root / ".secret.html").write_text("hidden")
    (root / "empty").mkdir()
    (base / "outside.html").write_text("<html>outside</html>")
    (root / "escape.html").symlink_to(base / "outside.html")
    (root / "escape-dir").symlink_to(base)
    (root / "fraud" / "alias.html").symlink_to(root / "fraud" / "20260310T060000Z-run42.html")
    return root


@pytest.fixture(scope="module")
def port(tree: Path) -> Iterator[int]:
    server = make_report_server(tree, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def request(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest(method, path, skip_accept_encoding=True)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


def test_binds_to_localhost_by_default(tree: Path) -> None:
    server = make_report_server(tree, port=0)
    assert server.server_address[0] == "127.0.0.1"
    server.server_close()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/", b"<html>index</html>"),
        ("/index.html", b"<html>index</html>"),
        ("/fraud/", b"<html>model</html>"),
        ("/fraud/20260310T060000Z-run42.html", b"<html>report</html>"),
        ("/fraud/20260310T060000Z-run42.html?x=1#y", b"<html>report</html>"),
        ("/fraud/alias.html", b"<html>report</html>"),  # a symlink that stays inside is fine
    ],
)
def test_serves_files_inside_the_directory(port: int, path: str, body: bytes) -> None:
    status, headers, got = request(port, path)
    assert (status, got) == (200, body)
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-length"] == str(len(body))


def test_directory_without_slash_redirects_relatively(port: int) -> None:
    status, headers, _ = request(port, "/fraud")
    assert status == 301 and headers["location"] == "fraud/"


@pytest.mark.parametrize(
    "path",
    [
        "/../outside.html",
        "/fraud/../../outside.html",
        "/%2e%2e/outside.html",
        "/fraud/%2E%2E/%2e%2e/outside.html",
        "/%2e%2e%2foutside.html",
        "/..%2f..%2fetc%2fpasswd",
        "/fraud/..%5c..%5coutside.html",
        "//etc/passwd",
        "/etc/passwd",
        "/%00index.html",
        "/%ff%fe.html",
        "/.secret.html",
        "/fraud/run.py",
        "/empty/",
        "/missing.html",
        "/%252e%252e/outside.html",
    ],
)
def test_refuses_traversal_hidden_and_unknown_files(port: int, path: str) -> None:
    status, _, body = request(port, path)
    assert status == 404 and b"outside" not in body and b"hidden" not in body and b"source" not in body


@pytest.mark.parametrize("path", ["/escape.html", "/escape-dir/outside.html"])
def test_refuses_symlinks_leading_outside(port: int, path: str) -> None:
    status, _, body = request(port, path)
    assert status == 403 and b"outside" not in body


def test_head_sends_headers_without_body(port: int) -> None:
    status, headers, body = request(port, "/fraud/data.json", "HEAD")
    assert status == 200 and body == b"" and headers["content-length"] == "2"
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_and_head(port: int, method: str) -> None:
    status, headers, _ = request(port, "/index.html", method)
    assert status == 405 and headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/index.html", "/missing.html", "/fraud"])
def test_security_headers_on_every_response(port: int, path: str) -> None:
    _, headers, _ = request(port, path)
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert (
        "default-src 'none'" in CONTENT_SECURITY_POLICY
        and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    )
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "Python" not in headers["server"]


def test_mounts_under_a_prefix_in_another_server(tree: Path) -> None:
    class DaemonHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if handle_report_request(self, self.path, tree, prefix="/reports/"):
                return
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), DaemonHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        assert request(port, "/healthz")[2] == b"ok"
        assert request(port, "/reports/fraud/20260310T060000Z-run42.html")[2] == b"<html>report</html>"
        assert request(port, "/reports/")[2] == b"<html>index</html>"
        assert request(port, "/reports")[1]["location"] == "reports/"
        assert request(port, "/reports/%2e%2e/outside.html")[0] == 404
        assert request(port, "/reportsX/index.html")[2] == b"ok"  # not under the mount
    finally:
        server.shutdown()
        server.server_close()


def test_docstring_examples() -> None:
    result = doctest.testmod(report_server)
    assert result.attempted > 0 and result.failed == 0
