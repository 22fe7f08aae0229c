"""Injected throttling and regional outages, answered in the operation's own protocol so the SDK classifies
(and retries) them as it would a real AWS answer."""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus

import botocore.session
import cbor2

_session = botocore.session.get_session()


@dataclass
class Fault:
    service: str  # or "*": every service
    operation: str  # or "*": every operation
    every: int  # throttle every Nth matching call (1: each one)
    remaining: int  # how many more to throttle
    seen: int = 0
    share: float = 0.0  # instead of every Nth: this share of matching calls, drawn from `rng`
    rng: random.Random | None = None

    def matches(self, service: str, operation: str) -> bool:
        return self.service in ("*", service) and self.operation in ("*", operation)


class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.faults: list[Fault] = []

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def add(self, spec: dict) -> None:
        share = float(spec.get("share", 0.0))
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share {share} is not between 0 and 1")
        fault = Fault(
            service=str(spec["service"]),
            operation=str(spec["operation"]),
            every=max(1, int(spec.get("every", 1))),
            remaining=max(0, int(spec.get("count", 1))),
            share=share,
            rng=random.Random(int(spec.get("seed", 0))) if share else None,
        )
        with self.lock:
            self.faults.append(fault)

    def should_throttle(self, service: str, operation: str) -> bool:
        with self.lock:
            for fault in self.faults:
                if not fault.matches(service, operation) or fault.remaining == 0:
                    continue
                fault.seen += 1
                hit = fault.rng.random() < fault.share if fault.rng else fault.seen % fault.every == 0
                if hit:
                    fault.remaining -= 1
                    return True
        return False


def throttled(service: str, cbor: bool, start_response) -> list[bytes]:
    """A throttling error as `service` sends it in its protocol."""
    return protocol_error(service, cbor, start_response, "Rate exceeded", throttling=True)


class Outages:
    """Regions (optionally one service there) whose every request answers a server error, until cleared."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: set[tuple[str, str | None]] = set()  # (region, service or None for all services)

    def clear(self) -> None:
        with self.lock:
            self.active.clear()

    def add(self, spec: dict) -> None:
        region, service = spec.get("region"), spec.get("service")
        if not isinstance(region, str) or not region or not (service is None or isinstance(service, str)):
            raise ValueError('expected {"region": "<region>", "service": "<botocore service name>" (optional)}')
        with self.lock:
            self.active.add((region, service or None))

    def covers(self, region: str | None, service: str) -> bool:
        with self.lock:
            return (region, None) in self.active or (region, service) in self.active


@lru_cache(maxsize=None)
def server_fault(service: str) -> tuple[int, str, str | None]:
    """(HTTP status, error code, awsQuery code) of the server-side error `service`'s model defines (a 503 one
    first), or the common InternalFailure 500 every AWS service may answer when its model names none."""
    model = _session.get_service_model(service)
    found = []
    for name in model.shape_names:
        shape = model.shape_for(name)
        error = shape.metadata.get("error") or {}
        status = error.get("httpStatusCode")
        if shape.metadata.get("exception") and ((status or 0) >= 500 or name.startswith("Internal") or "Unavailable" in name):
            found.append((status == 503, status or 500, name, error.get("code")))
    if not found:
        return 500, "InternalFailure", None
    _, status, name, query_code = max(found)
    return status, name, query_code


def unavailable(service: str, cbor: bool, start_response) -> list[bytes]:
    """The server error `service` answers in its protocol during an outage."""
    return protocol_error(service, cbor, start_response, "Service unavailable (emulated regional outage)", throttling=False)


def protocol_error(service: str, cbor: bool, start_response, message: str, throttling: bool) -> list[bytes]:
    protocol = "smithy-rpc-v2-cbor" if cbor else _session.get_service_model(service).resolved_protocol
    if throttling:
        status, code, query_code = (429 if protocol == "rest-json" else 400), "ThrottlingException", None
        xml_code, xml_type = "Throttling", "Sender"
    else:
        status, code, query_code = server_fault(service)
        xml_code, xml_type = (query_code or code), "Receiver"
    # awsQuery-compatible services (CloudWatch) name the query error code in a header for the SDKs.
    query_header = [("x-amzn-query-error", f"{query_code};{xml_type}")] if query_code else []
    if protocol == "smithy-rpc-v2-cbor":
        body = cbor2.dumps({"__type": code, "message": message})
        headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")] + query_header
    elif protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1")] + query_header
    elif protocol == "rest-json":
        body = json.dumps({"message": message}).encode()
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    else:  # rest-xml and query
        body = (
            f"<ErrorResponse><Error><Type>{xml_type}</Type><Code>{xml_code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>emulator</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    start_response(f"{status} {HTTPStatus(status).phrase}", headers + [("Content-Length", str(len(body)))])
    return [body]
