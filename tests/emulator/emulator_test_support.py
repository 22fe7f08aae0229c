"""Constants and helpers shared by the emulator layer's tests (the `endpoint` fixture is in conftest.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import botocore.config

EAST, WEST = "us-east-1", "us-west-2"
# botocore prefers awsJson for CloudWatch when a model lists several protocols; CloudWatch clients are made with
# rpcv2-cbor first so the tests exercise the layer's translation exactly as the Rust SDK does.
CBOR_FIRST = ("smithy-rpc-v2-cbor", "json", "rest-json", "rest-xml", "query")
NO_RETRY = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})


def control(endpoint: str, path: str, spec: dict | None = None, method: str = "POST") -> int:
    """POST (or DELETE, ...) `spec` as JSON to a control path such as /_emulator/outage; the HTTP status."""
    data = json.dumps(spec).encode() if spec is not None else None
    request = urllib.request.Request(f"{endpoint}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as err:
        return err.code


def calls(endpoint: str) -> list[dict]:
    """The calls the emulator has recorded since the last reset (GET /_emulator/calls)."""
    with urllib.request.urlopen(f"{endpoint}/_emulator/calls", timeout=10) as reply:
        return json.load(reply)
