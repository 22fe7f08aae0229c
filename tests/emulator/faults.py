"""Injected throttling, answered in the throttled operation's own protocol so the SDK classifies and
retries it as it would a real AWS answer."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import botocore.session
import cbor2

_session = botocore.session.get_session()


@dataclass
class Fault:
    service: str
    operation: str
    every: int  # throttle every Nth matching call (1: each one)
    remaining: int  # how many more to throttle
    seen: int = 0


class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.faults: list[Fault] = []

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def add(self, spec: dict) -> None:
        fault = Fault(
            service=str(spec["service"]),
            operation=str(spec["operation"]),
            every=max(1, int(spec.get("every", 1))),
            remaining=max(0, int(spec.get("count", 1))),
        )
        with self.lock:
            self.faults.append(fault)

    def should_throttle(self, service: str, operation: str) -> bool:
        with self.lock:
            for fault in self.faults:
                if (fault.service, fault.operation) != (service, operation) or fault.remaining == 0:
                    continue
                fault.seen += 1
                if fault.seen % fault.every == 0:
                    fault.remaining -= 1
                    return True
        return False


def throttled(service: str, cbor: bool, start_response) -> list[bytes]:
    """A throttling error as `service` sends it in its protocol."""
    message = "Rate exceeded"
    protocol = "smithy-rpc-v2-cbor" if cbor else _session.get_service_model(service).resolved_protocol
    if protocol == "smithy-rpc-v2-cbor":
        body = cbor2.dumps({"__type": "ThrottlingException", "message": message})
        headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        status = "400 Bad Request"
    elif protocol == "json":
        body = json.dumps({"__type": "ThrottlingException", "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1")]
        status = "400 Bad Request"
    elif protocol == "rest-json":
        body = json.dumps({"message": message}).encode()
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ThrottlingException")]
        status = "429 Too Many Requests"
    else:  # rest-xml and query
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            f"<Message>{message}</Message></Error><RequestId>emulator</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
        status = "400 Bad Request"
    start_response(status, headers + [("Content-Length", str(len(body)))])
    return [body]
