"""dialtone's local AWS emulator: moto behind the project's own protocol layer.

    python tests/emulator/server.py [--host 127.0.0.1] [--port 0] [--exit-with-parent]

Prints `READY http://HOST:PORT` once it accepts requests. With --exit-with-parent it exits when its
standard input closes, so a test process that dies never leaves an emulator behind.

Control endpoints (loopback only, like the rest):
    POST /moto-api/reset       forget every resource (moto's and the layers'), the recorded calls, injected
                               faults, outages, Connect and Route 53 settings, the clock of mute rules and the
                               datapoints kept for alarm evaluation
    GET  /_emulator/calls      JSON list of {"service", "operation", "outcome", "client", "region"} of every AWS
                               request since the reset; outcome is "served", "throttled" or "outage", client
                               is "dialtone" when the SDK's user agent carries app/dialtone
    DELETE /_emulator/calls    forget the recorded calls and injected faults (resources and outages stay)
    POST /_emulator/faults     {"service", "operation", "every": N, "count": M} ("*" matches any service or
                               operation; "share": 0.3 and "seed" throttle that share at random instead): answer every Nth such
                               request with the protocol's own throttling error, M times in all
    POST /_emulator/outage     {"region": R, "service": S}: every request of botocore service S ("connect",
                               "cloudwatch", "route53", ...; omitted: of every service) signed for region R
                               answers the protocol's own 5xx (the model's server error, else InternalFailure
                               500). Route 53 signs for us-east-1 wherever it is called from.
    DELETE /_emulator/outage   end every outage
    POST /_emulator/connect/replication
                               {"region": R, "instanceId": I, "replicaRegion": R2, "status": S, "reason": T}:
                               DescribeInstance in R shows ReplicationStatus S (InstanceReplicationStatus)
                               and reason T for R2 in I's ReplicationStatusSummaryList
    POST /_emulator/connect/group
                               {"arn": A, "status": S}: traffic distribution group A's Status becomes S
                               (TrafficDistributionGroupStatus), until changed again
    POST /_emulator/connect/settings
                               {"updateSeconds": N}: how long a group stays UPDATE_IN_PROGRESS after an
                               accepted UpdateTrafficDistribution (default 2; 0 allowed)
    POST /_emulator/clock      {"now": "2026-12-26T03:00:00Z"} (ISO 8601; no offset means UTC): the time alarm
                               mute rules are judged by (their Status, LastUpdatedTimestamp), until changed
    DELETE /_emulator/clock    mute rules follow real time again
    POST /_emulator/route53/health
                               {"id": H, "healthy": false|true}: GetHealthCheckStatus of endpoint health check H
                               (HTTP, HTTPS, *_STR_MATCH, TCP, RECOVERY_CONTROL) reports Failure|Success, and CALCULATED
                               checks count it so, until changed again (default healthy)
    POST /_emulator/route53/settings
                               {"changeSeconds": N}: GetChange answers PENDING for N seconds after a
                               ChangeResourceRecordSets, then INSYNC; while N > 0 and a change of a zone is PENDING,
                               another ChangeResourceRecordSets on it answers PriorRequestNotComplete (default 0)
Control requests with a malformed body answer 400, with an unknown resource 404, both {"message": ...}.
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
from connect_gr import ConnectGlobalResiliency  # noqa: E402
from faults import Faults, Outages, throttled, unavailable  # noqa: E402
from metric_alarms import AlarmEvaluation  # noqa: E402
from mute_rules import AlarmMuteRules  # noqa: E402
from operations import identify, region  # noqa: E402
from route53_layer import Route53Layer  # noqa: E402


class Emulator:
    """The whole WSGI application: control endpoints, call recording, outages and throttling, then the
    service layers (Connect Global Resiliency, Route 53, CloudWatch alarm mute rules, CloudWatch rpcv2-cbor,
    alarm evaluation from PutMetricData), then moto."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[dict[str, str]] = []
        self.faults = Faults()
        self.outages = Outages()
        # Layers by service, each answering what moto lacks and passing the rest on.
        self.alarm_evaluation = AlarmEvaluation(DomainDispatcherApplication(create_backend_app))
        self.mute_rules = AlarmMuteRules(CborLayer(self.alarm_evaluation))
        self.route53 = Route53Layer(self.mute_rules)
        self.connect = ConnectGlobalResiliency(self.route53)
        self.app = self.connect

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
        method = environ.get("REQUEST_METHOD")
        if path == "/moto-api/reset" and method == "POST":
            with self.lock:
                self.calls.clear()
            self.faults.clear()
            self.outages.clear()
            self.connect.reset()
            self.route53.reset()
            self.mute_rules.reset()
            self.alarm_evaluation.reset()
            return self.app(environ, start_response)
        if path == "/_emulator/calls" and method == "DELETE":
            with self.lock:
                self.calls.clear()
            self.faults.clear()
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        if path == "/_emulator/faults" and method == "POST":
            self.faults.add(json.loads(body or b"{}"))
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        if path == "/_emulator/outage" and method in ("POST", "DELETE"):
            return _control(start_response, lambda: self.outages.add(_json(body)) if method == "POST" else self.outages.clear())
        if path == "/_emulator/clock" and method in ("POST", "DELETE"):
            return _control(start_response, lambda: self.mute_rules.set_clock(_json(body) if method == "POST" else None))
        if path.startswith("/_emulator/connect/") and method == "POST":
            return _control(start_response, lambda: self.connect.control(path.rsplit("/", 1)[-1], _json(body)))
        if path.startswith("/_emulator/route53/") and method == "POST":
            return _control(start_response, lambda: self.route53.control(path.rsplit("/", 1)[-1], _json(body)))
        operation = identify(environ, body)
        if operation is None:
            return self.app(environ, start_response)
        service, name = operation
        if self.outages.covers(region(environ), service):
            outcome = "outage"  # checked first: a region that is down does not count requests towards throttling
        else:
            outcome = "throttled" if self.faults.should_throttle(service, name) else "served"
        agent = environ.get("HTTP_X_AMZ_USER_AGENT", "") + " " + environ.get("HTTP_USER_AGENT", "")
        client = "dialtone" if "app/dialtone" in agent else "other"
        with self.lock:
            self.calls.append(
                {"service": service, "operation": name, "outcome": outcome, "client": client, "region": region(environ)}
            )
        if outcome == "outage":
            return unavailable(service, path.startswith("/service/"), start_response)
        if outcome == "throttled":
            return throttled(service, path.startswith("/service/"), start_response)
        return self.app(environ, start_response)


def _json(body: bytes) -> dict:
    spec = json.loads(body or b"{}")
    if not isinstance(spec, dict):
        raise ValueError("expected a JSON object")
    return spec


def _control(start_response: Callable, action: Callable[[], None]) -> list[bytes]:
    """Run a control action: 200 with no body, 400 for a malformed request, 404 for an unknown resource."""
    try:
        action()
    except ValueError as err:  # json.JSONDecodeError is a ValueError too
        status, message = "400 Bad Request", str(err)
    except KeyError as err:
        status, message = "404 Not Found", str(err.args[0] if err.args else err)
    else:
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]
    body = json.dumps({"message": message}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


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
