"""The explorer's local web server: the static page and a JSON API over a Session.

    GET /                        the page (static/index.html, explore.js, explore.css)
    GET /api/model               model, variant, sizes, knobs, actors, properties, initial tokens
    GET /api/verdicts            the explicit search's verdict for each chosen property
    GET /api/trace?property=P    P's counterexample: state tokens and steps
    GET /api/state?s=TOKEN       a state: variables, property values, enabled steps

Python's own http.server (ThreadingHTTPServer): one local user, a handful of GET routes and
JSON, so a framework would add a dependency and nothing the page uses (see the README). It
binds to 127.0.0.1 unless told otherwise; a bad request gets a 400 with one line of JSON.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from oomcheck.checker.language.lang import ModelError
from oomcheck.explore.session import Session

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/explore.js": ("explore.js", "text/javascript; charset=utf-8"),
    "/explore.css": ("explore.css", "text/css; charset=utf-8"),
}


def _static(name: str) -> bytes:
    return resources.files("oomcheck.explore").joinpath("static", name).read_bytes()


def make_server(session: Session, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server for the session, bound but not yet serving (serve_forever() runs it); port 0
    picks a free port (server.server_address has the one bound)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request would bury the URL the command printed

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path in STATIC:
                name, ctype = STATIC[url.path]
                self._send(HTTPStatus.OK, _static(name), ctype)
                return
            try:
                body = self._api(url.path, query)
            except ModelError as e:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
                return
            if body is None:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {url.path}"})
            else:
                self._json(HTTPStatus.OK, body)

        def _api(self, path: str, query: dict[str, str]) -> dict | list | None:
            if path == "/api/model":
                return session.overview()
            if path == "/api/verdicts":
                return session.verdicts()
            if path == "/api/trace":
                return session.counterexample(_arg(query, "property"))
            if path == "/api/state":
                return session.state(_arg(query, "s"))
            return None

        def _json(self, status: HTTPStatus, body: object) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: HTTPStatus, data: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def _arg(query: dict[str, str], name: str) -> str:
    if name not in query:
        raise ModelError(f"missing query parameter {name!r}")
    return query[name]
