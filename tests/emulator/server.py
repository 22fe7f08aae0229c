"""dialtone's local AWS emulator: moto behind the project's own protocol layer.

    python tests/emulator/server.py [--host 127.0.0.1] [--port 0] [--exit-with-parent]

Prints `READY http://HOST:PORT` once it accepts requests. With --exit-with-parent it exits when its
standard input closes, so a test process that dies never leaves an emulator behind.

Control endpoints (loopback only, like the rest):
    POST /moto-api/reset       forget every resource (moto's own) and the recorded calls
    GET  /_emulator/calls      JSON list of {"service", "operation", "outcome", "client"} of every AWS
                               request since the reset; outcome is "served" or "throttled", client is
                               "dialtone" when the SDK's user agent carries app/dialtone
    DELETE /_emulator/calls    forget the recorded calls and injected faults (resources stay)
    POST /_emulator/faults     {"service", "operation", "every": N, "count": M}: answer every Nth such
                               request with the protocol's own throttling error, M times in all
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
from typing import Callable, Iterable

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbor_layer import CborLayer  # noqa: E402
from faults import Faults, throttled  # noqa: E402
from operations import identify  # noqa: E402


class Emulator:
    """The whole WSGI application: control endpoints, then the protocol layer, then moto."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[dict[str, str]] = []
        self.faults = Faults()
        self.app = CborLayer(DomainDispatcherApplication(create_backend_app))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/_emulator/calls" and environ.get("REQUEST_METHOD") == "GET":
            with self.lock:
                body = json.dumps(self.calls).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if path == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
            with self.lock:
                self.calls.clear()
            self.faults.clear()
            return self.app(environ, start_response)
        if path == "/_emulator/calls" and environ.get("REQUEST_METHOD") == "DELETE":
            with self.lock:
                self.calls.clear()
            self.faults.clear()
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        if path == "/_emulator/faults" and environ.get("REQUEST_METHOD") == "POST":
            self.faults.add(json.loads(body or b"{}"))
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        operation = identify(environ, body)
        if operation is None:
            return self.app(environ, start_response)
        service, name = operation
        outcome = "throttled" if self.faults.should_throttle(service, name) else "served"
        agent = environ.get("HTTP_X_AMZ_USER_AGENT", "") + " " + environ.get("HTTP_USER_AGENT", "")
        client = "dialtone" if "app/dialtone" in agent else "other"
        with self.lock:
            self.calls.append({"service": service, "operation": name, "outcome": outcome, "client": client})
        if outcome == "throttled":
            return throttled(service, path.startswith("/service/"), start_response)
        return self.app(environ, start_response)


def serve(host: str, port: int) -> tuple[object, str]:
    server = make_server(host, port, Emulator(), threaded=True)
    return server, f"http://{host}:{server.server_port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--exit-with-parent", action="store_true", help="exit when standard input closes")
    args = parser.parse_args()
    if not args.host.startswith("127.") and args.host not in ("localhost", "::1"):
        parser.error("the emulator only binds loopback addresses")

    server, url = serve(args.host, args.port)
    if args.exit_with_parent:

        def watch_stdin() -> None:
            sys.stdin.read()
            os._exit(0)

        threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"READY {url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
