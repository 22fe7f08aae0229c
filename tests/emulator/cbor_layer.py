"""Smithy rpcv2-cbor in front of moto's awsJson1_0.

The current aws-sdk-cloudwatch speaks rpcv2-cbor (`POST /service/<Service>/operation/<Op>`, CBOR bodies);
moto understands the same operations in awsJson1_0 (`POST /` with `X-Amz-Target`). This middleware decodes
the CBOR request, forwards it to moto as JSON and encodes moto's reply as CBOR. botocore's service model
(installed with moto) tells which members are timestamps or floating point, since JSON cannot say.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import re
from typing import Any, Callable, Iterable

import botocore.session
import cbor2

# rpcv2 service name (from the request path) -> (botocore service name, awsJson target prefix).
SERVICES = {
    "GraniteServiceVersion20100801": ("cloudwatch", "GraniteServiceVersion20100801"),
}

PATH = re.compile(r"^/service/(?P<service>[A-Za-z0-9_]+)/operation/(?P<operation>[A-Za-z0-9_]+)$")
CBOR_HEADERS = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
# Headers from moto worth passing back (request ids, the query-compatible error code).
PASS_HEADERS = {"x-amzn-requestid", "x-amzn-query-error"}

_session = botocore.session.get_session()
_models: dict[str, Any] = {}


def service_model(name: str):
    if name not in _models:
        _models[name] = _session.get_service_model(name)
    return _models[name]


def match(environ: dict) -> tuple[str, str] | None:
    """(rpcv2 service, operation) when the request is rpcv2-cbor for a service the layer knows."""
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    if environ.get("HTTP_SMITHY_PROTOCOL") != "rpc-v2-cbor":
        return None
    found = PATH.match(environ.get("PATH_INFO", ""))
    if not found or found["service"] not in SERVICES:
        return None
    return found["service"], found["operation"]


def to_json_value(value: Any) -> Any:
    """CBOR-decoded request value -> what awsJson expects (epoch seconds, base64 blobs)."""
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [to_json_value(v) for v in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def to_cbor_value(value: Any, shape) -> Any:
    """moto's JSON reply value -> the CBOR value rpcv2 requires for `shape` (botocore model)."""
    if value is None:
        return None
    kind = shape.type_name if shape is not None else None
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {
            k: to_cbor_value(v, members.get(k))
            for k, v in value.items()
            if v is not None and (k in members or k == "__type" or k == "message")
        }
    if kind == "list" and isinstance(value, list):
        return [to_cbor_value(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: to_cbor_value(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return cbor2.CBORTag(1, _epoch(value))
    if kind in ("double", "float") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in ("integer", "long") and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    return value


class CborLayer:
    """WSGI middleware: rpcv2-cbor requests for known services are translated; the rest pass through."""

    def __init__(self, inner: Callable):
        self.inner = inner

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        matched = match(environ)
        if matched is None:
            return self.inner(environ, start_response)
        service, operation = matched
        botocore_name, target_prefix = SERVICES[service]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            params = cbor2.loads(raw) if raw else {}
        except Exception as err:  # a malformed body is the client's error, as in AWS
            return _cbor_reply(start_response, 400, {"__type": "SerializationException", "message": str(err)})
        body = json.dumps(to_json_value(params or {})).encode()

        forwarded = dict(environ)
        forwarded.update(
            {
                "PATH_INFO": "/",
                "QUERY_STRING": "",
                "CONTENT_TYPE": "application/x-amz-json-1.0",
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_X_AMZ_TARGET": f"{target_prefix}.{operation}",
                "wsgi.input": io.BytesIO(body),
            }
        )
        forwarded.pop("HTTP_SMITHY_PROTOCOL", None)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info=None):
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = headers
            return lambda _data: None

        chunks = self.inner(forwarded, capture)
        try:
            reply = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status = captured.get("status", 500)
        extra = [(k, v) for k, v in captured.get("headers", []) if k.lower() in PASS_HEADERS]
        decoded = json.loads(reply) if reply.strip() else {}
        if status >= 300:
            return _cbor_reply(start_response, status, _error_body(decoded), extra)
        output = service_model(botocore_name).operation_model(operation).output_shape
        return _cbor_reply(start_response, status, to_cbor_value(decoded, output) or {}, extra)


def _error_body(decoded: dict) -> dict:
    code = str(decoded.get("__type") or decoded.get("code") or "InternalFailure").split("#")[-1]
    message = decoded.get("message") or decoded.get("Message") or ""
    return {"__type": code, "message": message}


def _cbor_reply(start_response: Callable, status: int, payload: dict, extra: list | None = None) -> list[bytes]:
    body = cbor2.dumps(payload)
    reason = "OK" if status < 300 else "Error"
    headers = CBOR_HEADERS + [("Content-Length", str(len(body)))] + (extra or [])
    start_response(f"{status} {reason}", headers)
    return [body]
