"""Which AWS operation a request is, for every protocol the SDKs speak, so the emulator can record
the calls a test made (call counts, and the IAM actions the operator needs)."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

import botocore.session

from cbor_layer import PATH as CBOR_PATH
from cbor_layer import SERVICES as CBOR_SERVICES

# SigV4 signing name (from the Authorization header's credential scope) -> botocore service name.
SIGNING_NAMES = {
    "monitoring": "cloudwatch",
    "tagging": "resourcegroupstaggingapi",
    "connect": "connect",
    "route53": "route53",
    "sts": "sts",
}
SCOPE = re.compile(r"Credential=[^/]+/[0-9]{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")

_session = botocore.session.get_session()


@lru_cache(maxsize=None)
def _rest_routes(service: str) -> list[tuple[str, re.Pattern, str]]:
    """(method, path regex, operation) for a REST service, most specific paths first."""
    model = _session.get_service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        # Without its trailing slash: ChangeResourceRecordSets' model URI ends in /rrset/, the Rust SDK sends /rrset.
        uri = http["requestUri"].split("?")[0].rstrip("/") or "/"
        pattern = re.sub(r"\\{[^}]+\\+\\}", ".+", re.escape(uri))
        pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", pattern)
        routes.append((http["method"], re.compile(f"^{pattern}/?$"), name))
    routes.sort(key=lambda r: -len(r[1].pattern))
    return routes


# Global services whose control plane is in one region, wherever a client signs for (an SDK with an endpoint
# override signs with its own configured region instead of the real endpoint's us-east-1).
HOME_REGIONS = {"route53": "us-east-1"}


def region(environ: dict) -> str | None:
    """The region a request is served in: its SigV4 credential scope's, or a global service's home region."""
    scope = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not scope:
        return None
    return HOME_REGIONS.get(scope["service"], scope["region"])


def raw_path(environ: dict) -> str:
    """The request path as sent, still percent-encoded: an ARN in a URI label (`arn%3A...%2F...`) stays one
    segment, which the decoded PATH_INFO would split at its slash."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    return urlsplit(raw).path if raw else environ.get("PATH_INFO", "")


def identify(environ: dict, body: bytes) -> tuple[str, str] | None:
    """(botocore service name, operation) of an SDK request, or None for anything else."""
    path = environ.get("PATH_INFO", "")
    found = CBOR_PATH.match(path)
    if found and found["service"] in CBOR_SERVICES:
        return CBOR_SERVICES[found["service"]][0], found["operation"]
    scope = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not scope:
        return None
    service = SIGNING_NAMES.get(scope["service"], scope["service"])
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, target.rsplit(".", 1)[-1]
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action") or parse_qs(body.decode("utf-8", "replace")).get("Action")
    if action:
        return service, action[0]
    method = environ.get("REQUEST_METHOD", "")
    path = raw_path(environ)
    for route_method, pattern, name in _rest_routes(service):
        if route_method == method and pattern.match(path):
            return service, name
    return None
