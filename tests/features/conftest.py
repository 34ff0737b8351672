"""Shared by the feature tests: a local HTTP server that serves weight files on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from weights_server import FileServer


@pytest.fixture
def server() -> Iterator[FileServer]:
    state = FileServer(base_url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            state.requests.append(self.path)
            if self.path not in state.routes:
                self.send_error(404)
                return
            body, declared = state.routes[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(declared))
            self.end_headers()
            self.wfile.write(body)  # then the connection closes (HTTP/1.0), short of ``declared`` if larger

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    # A short poll interval only makes shutdown() return quickly at teardown.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()
