"""Route 53 where moto lacks it or gets it wrong, in front of moto (rest-xml, as aws-sdk-route53 and botocore speak it).

The layer answers, for requests under /2013-04-01/:
- health checks, entirely: CreateHealthCheck, GetHealthCheck, ListHealthChecks, UpdateHealthCheck, DeleteHealthCheck,
  GetHealthCheckCount, GetHealthCheckStatus, and ChangeTagsForResource / ListTagsForResource / ListTagsForResources
  for resource type healthcheck. moto drops AlarmIdentifier and InsufficientDataHealthStatus, adds a Port to checks
  that have none, never raises HealthCheckVersion, deletes unknown ids without an error, ignores CallerReference and
  answers GetHealthCheckStatus with a canned success: patching each of its answers would need a store of our own
  anyway, so the layer keeps health checks itself and moto never sees them.
- ChangeResourceRecordSets: validated as one transaction against a copy of the zone's record sets, then written into
  moto's zone (moto applies changes one by one, so a bad change leaves the earlier ones applied; its DELETE by
  SetIdentifier removes every record set with that identifier in the zone, whatever its name; it accepts a CREATE of
  an existing record set). ListResourceRecordSets stays moto's and reads what the layer wrote.
- GetChange of the changes it made: PENDING until `changeSeconds` (POST /_emulator/route53/settings) have passed since
  the change, then INSYNC. Other change ids (moto's own, from CreateHostedZone and the like) go to moto (INSYNC).
Everything else (hosted zones, ListResourceRecordSets, hosted zone tags) is moto's. A moto id source makes every
hosted zone id moto creates start with Z, like real ones; CreateHostedZone's SOA record set gets a plain value (moto
wraps it in a second {"Value": ...}).

State lives here (account 123456789012, moto's default) until POST /moto-api/reset. Shapes, member names, URIs, status
codes and errors come from botocore's Route 53 model, the model aws-sdk-route53 is generated from. Errors use Route
53's own XML (<ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error><RequestId>..),
which both SDKs parse.

Decisions the model and documentation leave open (see also the tests):
- DeleteHealthCheck never answers HealthCheckInUse: the model says that error "is not in use" and that Route 53
  "does not prevent you from deleting a health check even if the health check is associated with one or more
  resource record sets".
- A CLOUDWATCH_METRIC check's alarm must exist (in AlarmIdentifier.Region) and be one Route 53 supports (a metric
  alarm with a simple Statistic, a static threshold, a standard-resolution Period): else InvalidInput.
  CloudWatchAlarmConfiguration is copied from the alarm when the check is created or its AlarmIdentifier updated.
- GetHealthCheckStatus answers CALCULATED checks too (the model's documentation says real Route 53 does not: use it
  in tests only). Health: a Disabled check is healthy; CLOUDWATCH_METRIC follows the alarm's state in moto (OK
  healthy, ALARM unhealthy, INSUFFICIENT_DATA per InsufficientDataHealthStatus, LastKnownStatus when omitted: the
  alarm's last OK/ALARM state in its history, healthy if none); CALCULATED is healthy when at least HealthThreshold
  children are (a missing child is unhealthy); endpoint and RECOVERY_CONTROL checks are healthy unless a test set
  them unhealthy (POST /_emulator/route53/health); Inverted then flips the result. One observation per health
  checker region (the check's Regions, else all eight), Status "Success: ..." or "Failure: ...".
- Record set names are stored as Route 53 returns them: with a trailing dot, letters in lower case, characters other
  than a-z, 0-9, '-' and '_' as \\ooo octal escapes (*.example.com -> \\052.example.com.).
- Batch limits per the Route 53 quotas: at most 1,000 ResourceRecord elements and 32,000 characters of Value in a
  request, an UPSERT counting twice (the old limit of 100 Change elements is no longer documented).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import string
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

import botocore.session
from botocore import xform_name
from moto.cloudwatch.models import cloudwatch_backends
from moto.moto_api._internal import mock_random
from moto.route53.models import RecordSet, route53_backends
from moto.utilities.id_generator import moto_id_manager

from operations import _rest_routes, raw_path
from model_constraints import bounds_violation

ACCOUNT = "123456789012"  # moto's default account
PARTITION = "aws"  # moto keeps Route 53 per partition
PREFIX = "/2013-04-01/"
NAMESPACE = "https://route53.amazonaws.com/doc/2013-04-01/"
MODEL = botocore.session.get_session().get_service_model("route53")
CHECKER_REGIONS = MODEL.shape_for("HealthCheckRegion").enum  # where Route 53 health checkers run
ENDPOINT_TYPES = {"HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"}
SIMPLE_STATISTICS = set(MODEL.shape_for("Statistic").enum)
STATIC_OPERATORS = set(MODEL.shape_for("ComparisonOperator").enum)
ROUTING_POLICIES = ("Failover", "Weight", "Region", "GeoLocation", "MultiValueAnswer", "CidrRoutingConfig", "GeoProximityLocation")
MAX_RECORDS, MAX_VALUE_CHARACTERS, MAX_TAGS = 1000, 32000, 10
ID_CHARACTERS = string.ascii_uppercase + string.digits
ENDPOINT_UP = "HTTP Status Code 200, OK"
ENDPOINT_DOWN = "Connection timed out. The endpoint or the internet connection is down, or requests are being blocked by your firewall."


# ---- hosted zone ids ----


def _zone_id(context: dict) -> str | None:
    """A moto id source: hosted zone ids start with Z like real ones (moto's are 22 random characters)."""
    identifier = context.get("resource_identifier")
    if identifier is None or (identifier.service, identifier.resource) != ("route53", "hosted_zone"):
        return None
    existing = set(context.get("existing_ids") or [])
    while True:
        candidate = "Z" + "".join(mock_random.choice(ID_CHARACTERS) for _ in range(20))
        if candidate not in existing:
            return candidate


moto_id_manager.add_id_source(_zone_id)  # after moto's own sources: a custom id a test asked moto for still wins


# ---- errors and the wire format ----


class ApiError(Exception):
    """A Route 53 error of the model; its HTTP status is the error shape's (400 when the model gives none)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        error = MODEL.shape_for(code).metadata.get("error") if code in MODEL.shape_names else None
        self.status = (error or {}).get("httpStatusCode", 400)


def invalid(message: str) -> ApiError:
    return ApiError("InvalidInput", message)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # requests carry Route 53's xmlns


def from_xml(element: ET.Element, shape, where: str) -> Any:
    """A request element as Python values, by its model shape (lists are wrapped, as in all of Route 53)."""
    kind = shape.type_name
    if kind == "structure":
        children: dict[str, ET.Element] = {}
        for child in element:
            children.setdefault(_local(child.tag), child)
        value = {}
        for name, member in shape.members.items():
            child = children.get(member.serialization.get("name", name))
            if child is not None and not member.serialization.get("location"):
                value[name] = from_xml(child, member, f"{where}.{name}" if where else name)
        return value
    if kind == "list":
        return [from_xml(item, shape.member, where) for item in element]
    text = element.text or ""
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("double", "float"):
            return float(text)
    except ValueError:
        raise invalid(f"Invalid XML ; '{text}' is not a valid value for {where}") from None
    if kind == "boolean":
        if text not in ("true", "false"):
            raise invalid(f"Invalid XML ; '{text}' is not a valid value for {where}")
        return text == "true"
    return text


def _timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def to_xml(name: str, value: Any, shape) -> str:
    """A response value as XML, by its model shape."""
    kind = shape.type_name
    if kind == "structure":
        inner = "".join(
            to_xml(member.serialization.get("name", key), value[key], member)
            for key, member in shape.members.items()
            if value.get(key) is not None and not member.serialization.get("location")
        )
    elif kind == "list":
        item = shape.member.serialization.get("name", "member")
        inner = "".join(to_xml(item, v, shape.member) for v in value)
    elif kind == "boolean":
        inner = "true" if value else "false"
    elif kind == "timestamp":
        inner = _timestamp(value)
    else:
        inner = escape(str(value))
    return f"<{name}>{inner}</{name}>"


def validate(value: Any, shape, where: str) -> None:
    """The model's constraints (required members, enums, patterns, lengths, ranges) as Route 53's InvalidInput."""
    meta, kind = shape.metadata, shape.type_name

    def bad(why: str) -> None:
        raise invalid(f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy constraint: {why}")

    if kind == "structure":
        for name in shape.required_members:
            if value.get(name) is None:
                path = f"{where}.{name}" if where else name
                raise invalid(f"1 validation error detected: Value null at '{path}' failed to satisfy constraint: Member must not be null")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                validate(value[name], member, f"{where}.{name}" if where else name)
        return
    if kind == "list":
        for item in value:
            validate(item, shape.member, where)
    if kind == "string":
        if shape.enum and value not in shape.enum:
            bad(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        if "pattern" in meta and not re.search(meta["pattern"], value):
            bad(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    violation = bounds_violation(value, kind, meta)
    if violation:
        bad(violation)


def read_input(operation: str, environ: dict, body: bytes) -> dict:
    """The operation's input from its XML body, URI labels (percent-decoded) and query string, validated."""
    op = MODEL.operation_model(operation)
    shape = op.input_shape
    params: dict[str, Any] = {}
    if body.strip():
        try:
            root = ET.fromstring(body)
        except ET.ParseError as err:
            raise invalid(f"Invalid XML ; {err}") from None
        params = from_xml(root, shape, "")
    uri = op.http["requestUri"].split("?")[0].rstrip("/")
    pattern = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(uri))
    labels = re.match(f"^{pattern}/?$", raw_path(environ))
    query = parse_qs(environ.get("QUERY_STRING", ""))
    for name, member in shape.members.items():
        location, wire = member.serialization.get("location"), member.serialization.get("name", name)
        if location == "uri" and labels:
            params[name] = unquote(labels[wire])
        elif location == "querystring" and wire in query:
            params[name] = query[wire][0]
    validate(params, shape, "")
    return params


def _operation(environ: dict) -> str | None:
    """The Route 53 operation a request is, by method and path (whether or not it is signed)."""
    method, path = environ.get("REQUEST_METHOD", ""), raw_path(environ)
    for route_method, pattern, name in _rest_routes("route53"):
        if route_method == method and pattern.match(path):
            return name
    return None


# ---- health checks ----


@dataclass
class HealthCheck:
    id: str
    reference: str
    requested: dict  # HealthCheckConfig as first created: a retry with the same CallerReference must match it
    config: dict  # the current HealthCheckConfig, defaults filled in
    alarm: dict | None  # CloudWatchAlarmConfiguration, for CLOUDWATCH_METRIC checks
    version: int = 1
    tags: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict:
        described = {"Id": self.id, "CallerReference": self.reference, "HealthCheckConfig": self.config, "HealthCheckVersion": self.version}
        if self.alarm:
            described["CloudWatchAlarmConfiguration"] = self.alarm
        return described


def with_defaults(config: dict) -> dict:
    """The configuration as Route 53 returns it: the documented defaults filled in."""
    kind, filled = config["Type"], {"Inverted": False, "Disabled": False, **config}
    if kind in ENDPOINT_TYPES:
        https = kind.startswith("HTTPS")
        defaults = {"Port": 443 if https else 80, "RequestInterval": 30, "FailureThreshold": 3, "MeasureLatency": False, "EnableSNI": https}
        filled = {**defaults, **filled}
    return filled


def find_alarm(identifier: dict):
    try:
        return cloudwatch_backends[ACCOUNT][identifier["Region"]].alarms.get(identifier["Name"])
    except KeyError:  # a region moto does not know
        return None


def alarm_configuration(identifier: dict) -> dict:
    """CloudWatchAlarmConfiguration from the alarm, which must be one Route 53 supports."""
    alarm = find_alarm(identifier)
    name, region = identifier["Name"], identifier["Region"]
    if alarm is None:
        raise invalid(f"The CloudWatch alarm {name} does not exist in {region}")
    if not alarm.metric_name or alarm.metric_data_queries or alarm.threshold_metric_id:
        raise invalid(f"The CloudWatch alarm {name} uses metric math or a threshold metric, which Route 53 does not support")
    if alarm.statistic not in SIMPLE_STATISTICS or alarm.extended_statistic:
        raise invalid(f"The CloudWatch alarm {name} uses an extended statistic, which Route 53 does not support")
    if alarm.comparison_operator not in STATIC_OPERATORS or int(alarm.period) < 60:
        raise invalid(f"The CloudWatch alarm {name} is an anomaly detection or high-resolution alarm, which Route 53 does not support")
    configuration = {
        "EvaluationPeriods": int(alarm.evaluation_periods),
        "Threshold": float(alarm.threshold),
        "ComparisonOperator": alarm.comparison_operator,
        "Period": int(alarm.period),
        "MetricName": alarm.metric_name,
        "Namespace": alarm.namespace,
        "Statistic": alarm.statistic,
    }
    if alarm.dimensions:
        configuration["Dimensions"] = [{"Name": d.name, "Value": d.value} for d in alarm.dimensions]
    return configuration


# ---- record sets ----


def dns_name(name: str) -> str:
    """A name as Route 53 stores and lists it (see the module's docstring); escape codes already given stay."""
    name = (name if name.endswith(".") else name + ".").lower()
    return re.sub(r"\\[0-7]{3}|[^a-z0-9_.-]", lambda m: m[0] if len(m[0]) == 4 else "\\%03o" % ord(m[0]), name)


def describe_set(rr: dict) -> str:
    ident = f", set-identifier='{rr['SetIdentifier']}'" if rr.get("SetIdentifier") else ""
    return f"[name='{rr['Name']}', type='{rr['Type']}'{ident}]"


def routing_policy(rr: dict) -> str | None:
    return next((p for p in ROUTING_POLICIES if rr.get(p) is not None), None)


def check_structure(action: str, rr: dict) -> None:
    """The per-change rules Route 53 answers with InvalidInput (as moto does for the first of them)."""
    where = f"Change with [Action={action}, Name={rr['Name']}, Type={rr['Type']}, SetIdentifier={rr.get('SetIdentifier') or 'null'}]"
    has_values = "TTL" in rr or "ResourceRecords" in rr
    kinds = ["AliasTarget" in rr, has_values, "TrafficPolicyInstanceId" in rr]
    if sum(kinds) != 1 or (has_values and not ("TTL" in rr and "ResourceRecords" in rr)):
        found = "more than one" if sum(kinds) > 1 else "none"
        raise invalid(f"Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found {found} in {where}")
    if routing_policy(rr) and not rr.get("SetIdentifier"):
        raise invalid(f"Invalid request: Missing field 'SetIdentifier' in {where}")
    if rr.get("SetIdentifier") and not routing_policy(rr):
        raise invalid(f"Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found none in {where}")


def conflict(records: dict[tuple, dict], rr: dict, zone: str) -> str | None:
    """Why rr cannot join the zone's other record sets, if it cannot."""
    key = record_key(rr)
    same_name = [r for k, r in records.items() if k != key and k[0] == key[0]]
    if rr["Type"] == "CNAME" and any(r["Type"] != "CNAME" for r in same_name):
        return f"RRSet of type CNAME with DNS name {rr['Name']} is not permitted as it conflicts with other records with the same DNS name in zone {zone}"
    if rr["Type"] != "CNAME" and any(r["Type"] == "CNAME" for r in same_name):
        return f"RRSet of type {rr['Type']} with DNS name {rr['Name']} is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in zone {zone}"
    siblings = [r for r in same_name if r["Type"] == rr["Type"]]
    if any(routing_policy(r) != routing_policy(rr) for r in siblings):
        return f"Tried to create resource record set {describe_set(rr)} but a resource record set with the same name and type and a different routing policy exists"
    if rr.get("Failover") and any(r.get("Failover") == rr["Failover"] for r in siblings):
        return f"Tried to create resource record set {describe_set(rr)} but a {rr['Failover']} failover resource record set with the same name and type already exists"
    return None


def record_key(rr: dict) -> tuple:
    return (rr["Name"], rr["Type"], rr.get("SetIdentifier"))


def apply_batch(zone_name: str, current: list[dict], changes: list[dict]) -> list[dict]:
    """The zone's record sets after the batch, each change applied in order to a copy; InvalidChangeBatch (listing
    every problem) when any change fails, so that nothing is applied."""
    records = {record_key(r): r for r in current}
    problems = []
    for change in changes:
        action, rr = change["Action"], change["ResourceRecordSet"]
        key, label = record_key(rr), describe_set(rr)
        if rr["Name"] != zone_name and not rr["Name"].endswith("." + zone_name):
            problems.append(f"RRSet with DNS name {rr['Name']} is not permitted in zone {zone_name}")
        elif action == "CREATE" and key in records:
            problems.append(f"Tried to create resource record set {label} but it already exists")
        elif action == "DELETE" and key not in records:
            problems.append(f"Tried to delete resource record set {label} but it was not found")
        elif action == "DELETE" and records[key] != rr:
            problems.append(f"Tried to delete resource record set {label} but the values provided do not match the current values")
        elif action == "DELETE" and rr["Name"] == zone_name and rr["Type"] in ("SOA", "NS"):
            problems.append(f"A HostedZone must contain at least one {rr['Type']} record for the zone itself.")
        elif action == "DELETE":
            del records[key]
        elif reason := conflict(records, rr, zone_name):
            problems.append(reason)
        else:
            records[key] = rr  # CREATE, or UPSERT of a new or existing record set
    if problems:
        raise ApiError("InvalidChangeBatch", "[" + ", ".join(problems) + "]")
    # moto lists by name and type, keeping this order among sets of the same name and type: by SetIdentifier.
    return sorted(records.values(), key=lambda r: r.get("SetIdentifier") or "")


# Record set members moto's RecordSet keeps under its own names; the others are kept as attributes it serializes.
MOTO_MEMBERS = {"Name", "Type", "TTL", "ResourceRecords", "SetIdentifier", "Weight", "Region", "HealthCheckId", "AliasTarget", "Failover", "GeoLocation", "MultiValueAnswer"}
EXTRA_MEMBERS = [m for m in MODEL.shape_for("ResourceRecordSet").members if m not in MOTO_MEMBERS]


def from_moto(record: RecordSet) -> dict:
    values = [v["Value"] if isinstance(v, dict) else v for v in record.records or []]
    rr = {
        "Name": dns_name(record.name),
        "Type": record.type,
        "SetIdentifier": record.set_identifier,
        "Weight": record.weight,
        "Region": record.region,
        "GeoLocation": record.geo_location,
        "Failover": record.failover,
        "MultiValueAnswer": record.multi_value_answer,
        "TTL": int(record.ttl) if record.ttl is not None else None,  # moto keeps an NS TTL as text
        "ResourceRecords": [{"Value": v} for v in values] or None,
        "AliasTarget": record.alias_target,
        "HealthCheckId": record.health_check_id,
        **{m: getattr(record, xform_name(m), None) for m in EXTRA_MEMBERS},
    }
    return {k: v for k, v in rr.items() if v is not None}


def to_moto(rr: dict) -> RecordSet:
    record = RecordSet({**rr, "ResourceRecords": [r["Value"] for r in rr.get("ResourceRecords", [])]})
    for member in EXTRA_MEMBERS:
        setattr(record, xform_name(member), rr.get(member))
    return record


@dataclass
class Change:
    id: str
    zone: str
    submitted: dt.datetime
    insync_at: float  # time.monotonic() from which GetChange answers INSYNC
    comment: str | None

    def info(self) -> dict:
        status = "INSYNC" if time.monotonic() >= self.insync_at else "PENDING"
        return {"Id": f"/change/{self.id}", "Status": status, "SubmittedAt": self.submitted, "Comment": self.comment}


# ---- the layer ----


class Route53Layer:
    """WSGI middleware: Route 53 health checks, record set changes and their GetChange are answered here, the rest
    of Route 53 (and every other service) by `inner`."""

    def __init__(self, inner: Callable) -> None:
        self.inner = inner
        self.lock = threading.RLock()  # also serializes moto's Route 53 requests with the layer's writes to its zones
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.checks: dict[str, HealthCheck] = {}  # by id, in creation order
            self.references: dict[str, str] = {}  # CallerReference -> health check id, kept after a delete
            self.unhealthy: set[str] = set()  # endpoint checks a test set unhealthy
            self.changes: dict[str, Change] = {}
            self.change_seconds = 0.0

    def control(self, name: str, spec: dict) -> None:
        """POST /_emulator/route53/<name>; ValueError is a 400, KeyError a 404."""
        with self.lock:
            if name == "health":
                check, healthy = self.checks.get(str(spec.get("id"))), spec.get("healthy")
                if not isinstance(healthy, bool):
                    raise ValueError('expected {"id": "<health check id>", "healthy": true|false}')
                if check is None:
                    raise KeyError(f"no health check {spec.get('id')}")
                if check.config["Type"] in ("CLOUDWATCH_METRIC", "CALCULATED"):
                    raise ValueError(f"a {check.config['Type']} check follows its alarm or children; change those instead")
                (self.unhealthy.discard if healthy else self.unhealthy.add)(check.id)
            elif name == "settings":
                seconds = spec.get("changeSeconds")
                if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                    raise ValueError("changeSeconds must be a number >= 0")
                self.change_seconds = float(seconds)
            else:
                raise KeyError(f"no control {name}")

    # ---- WSGI ----

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith(PREFIX):
            return self.inner(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # for moto, when the request goes on to it
        operation = _operation(environ)
        with self.lock:
            if operation not in HANDLED:
                return self.moto(operation, environ, start_response)
            try:
                params = read_input(operation, environ, body)
                if not self.handles(operation, params):
                    return self.moto(operation, environ, start_response)
                payload = getattr(self, xform_name(operation))(params)
            except ApiError as err:
                return error_reply(start_response, err)
            return reply(start_response, operation, payload or {})

    def handles(self, operation: str, params: dict) -> bool:
        if operation in TAG_OPERATIONS:
            return params["ResourceType"] == "healthcheck"
        if operation == "GetChange":
            return params["Id"] in self.changes
        return True

    def moto(self, operation: str | None, environ: dict, start_response: Callable) -> Iterable[bytes]:
        chunks = self.inner(environ, start_response)
        if operation == "CreateHostedZone":
            self.fix_soa_records()
        return chunks

    def fix_soa_records(self) -> None:
        """moto stores a new zone's SOA value as {"Value": ...} inside the list of values, and lists it as that dict's
        text; the value alone is what Route 53 answers."""
        for zone in route53_backends[ACCOUNT][PARTITION].zones.values():
            for record in zone.rrsets:
                if record.type == "SOA" and any(isinstance(v, dict) for v in record.records):
                    record.records = [v["Value"] if isinstance(v, dict) else v for v in record.records]

    # ---- health checks: (validated input) -> output ----

    def find(self, check_id: str) -> HealthCheck:
        check = self.checks.get(check_id)
        if check is None:
            raise ApiError("NoSuchHealthCheck", f"A health check with id {check_id} does not exist.")
        return check

    def check_config(self, config: dict, check_id: str | None = None, new_alarm: bool = True) -> dict | None:
        """Semantic checks of a HealthCheckConfig per Type; the CloudWatchAlarmConfiguration of a new alarm."""
        kind = config["Type"]
        if kind in ENDPOINT_TYPES:
            if not config.get("IPAddress") and not config.get("FullyQualifiedDomainName"):
                raise invalid(f"A {kind} health check needs an IPAddress or a FullyQualifiedDomainName")
            if kind.endswith("_STR_MATCH") and not config.get("SearchString"):
                raise invalid(f"A {kind} health check needs a SearchString")
        elif config.get("IPAddress") is not None or config.get("Port") is not None:
            raise invalid(f"Omit IPAddress and Port for a {kind} health check")
        if kind == "RECOVERY_CONTROL" and not config.get("RoutingControlArn"):
            raise invalid("A RECOVERY_CONTROL health check needs a RoutingControlArn")
        if (config.get("AlarmIdentifier") is not None) != (kind == "CLOUDWATCH_METRIC"):
            raise invalid("AlarmIdentifier is required for, and only for, a CLOUDWATCH_METRIC health check")
        if kind != "CALCULATED" and (config.get("ChildHealthChecks") or config.get("HealthThreshold") is not None):
            raise invalid("ChildHealthChecks and HealthThreshold are for CALCULATED health checks only")
        if kind == "CALCULATED":
            if config.get("ChildHealthChecks") is None or config.get("HealthThreshold") is None:
                raise invalid("A CALCULATED health check needs ChildHealthChecks and HealthThreshold")
            for child in config["ChildHealthChecks"]:
                if child == check_id or child not in self.checks:
                    raise invalid(f"Invalid child health check {child}: no such health check")
        return alarm_configuration(config["AlarmIdentifier"]) if kind == "CLOUDWATCH_METRIC" and new_alarm else None

    def create_health_check(self, params: dict) -> dict:
        reference, requested = params["CallerReference"], params["HealthCheckConfig"]
        if reference in self.references:
            existing = self.checks.get(self.references[reference])
            if existing is not None and existing.requested == requested:  # a retry of a request that succeeded
                return {"HealthCheck": existing.describe(), "Location": location(existing.id)}
            raise ApiError("HealthCheckAlreadyExists", f"A health check with the caller reference {reference} already exists or existed.")
        alarm = self.check_config(requested)
        check = HealthCheck(str(uuid.uuid4()), reference, requested, with_defaults(requested), alarm)
        self.checks[check.id] = check
        self.references[reference] = check.id
        return {"HealthCheck": check.describe(), "Location": location(check.id)}

    def get_health_check(self, params: dict) -> dict:
        return {"HealthCheck": self.find(params["HealthCheckId"]).describe()}

    def get_health_check_count(self, params: dict) -> dict:
        return {"HealthCheckCount": len(self.checks)}

    def list_health_checks(self, params: dict) -> dict:
        checks = list(self.checks.values())
        try:
            size = min(int(params.get("MaxItems") or 100), 1000)  # the model documents 1,000 at most
        except ValueError:
            raise invalid("maxitems must be a number") from None
        start = 0
        if params.get("Marker"):
            ids = [c.id for c in checks]
            if params["Marker"] not in ids:
                raise invalid(f"Invalid marker {params['Marker']}")
            start = ids.index(params["Marker"])
        page = checks[start : start + size]
        reply = {"HealthChecks": [c.describe() for c in page], "Marker": params.get("Marker") or "", "IsTruncated": start + size < len(checks), "MaxItems": str(size)}
        if reply["IsTruncated"]:
            reply["NextMarker"] = checks[start + size].id
        return reply

    def update_health_check(self, params: dict) -> dict:
        check = self.find(params["HealthCheckId"])
        if params.get("HealthCheckVersion") is not None and params["HealthCheckVersion"] != check.version:
            raise ApiError("HealthCheckVersionMismatch", f"The health check version {params['HealthCheckVersion']} does not match the current version {check.version}.")
        config = dict(check.config)
        for name in ("FullyQualifiedDomainName", "Regions", "ResourcePath", "ChildHealthChecks"):
            if name in params.get("ResetElements", []):
                config.pop(name, None)  # Regions go back to the default (all), the others to null
        ignored = {"HealthCheckId", "HealthCheckVersion", "ResetElements"}
        config.update({k: v for k, v in params.items() if k not in ignored})
        alarm = self.check_config(config, check.id, new_alarm="AlarmIdentifier" in params)
        check.config, check.version = config, check.version + 1
        check.alarm = alarm or check.alarm
        return {"HealthCheck": check.describe()}

    def delete_health_check(self, params: dict) -> dict:
        check = self.find(params["HealthCheckId"])  # no HealthCheckInUse: see the module's docstring
        del self.checks[check.id]
        self.unhealthy.discard(check.id)
        return {}

    def health(self, check: HealthCheck, seen: frozenset = frozenset()) -> tuple[bool, str]:
        """(healthy, why) of a check, as Route 53's health checkers would see it now."""
        config = check.config
        if config.get("Disabled"):
            healthy, why = True, "The health check is disabled, so Route 53 considers it healthy"
        elif config["Type"] == "CLOUDWATCH_METRIC":
            healthy, why = self.alarm_health(config)
        elif config["Type"] == "CALCULATED":
            children = [self.checks.get(c) for c in config["ChildHealthChecks"]]
            if check.id in seen:  # a cycle made by updates
                return False, "Failure: The calculated health check refers to itself"
            count = sum(1 for c in children if c is not None and self.health(c, seen | {check.id})[0])
            healthy = count >= config["HealthThreshold"]
            why = f"{count} of {len(children)} child health checks are healthy (HealthThreshold {config['HealthThreshold']})"
        else:
            healthy = check.id not in self.unhealthy
            why = ENDPOINT_UP if healthy else ENDPOINT_DOWN
        if config.get("Inverted"):
            healthy, why = not healthy, why + " (inverted)"
        return healthy, ("Success: " if healthy else "Failure: ") + why

    def alarm_health(self, config: dict) -> tuple[bool, str]:
        identifier = config["AlarmIdentifier"]
        alarm = find_alarm(identifier)
        state = alarm.state_value if alarm is not None else "INSUFFICIENT_DATA"
        named = f"CloudWatch alarm {identifier['Name']} in {identifier['Region']} is {state}"
        if state in ("OK", "ALARM"):
            return state == "OK", named
        mode = config.get("InsufficientDataHealthStatus") or "LastKnownStatus"
        if mode == "LastKnownStatus":
            # moto's history holds each state an alarm left, oldest first; healthy when it never had data.
            known = [entry[3] for entry in (alarm.history if alarm is not None else []) if entry[0] == "StateUpdate" and entry[3] in ("OK", "ALARM")]
            return (not known or known[-1] == "OK"), f"{named}; last known state {known[-1] if known else 'none'}"
        return mode == "Healthy", f"{named}; InsufficientDataHealthStatus is {mode}"

    def get_health_check_status(self, params: dict) -> dict:
        check = self.find(params["HealthCheckId"])
        status = self.health(check)[1]
        now = dt.datetime.now(dt.timezone.utc)
        regions = check.config.get("Regions") or CHECKER_REGIONS
        observations = [
            {"Region": r, "IPAddress": f"15.177.{CHECKER_REGIONS.index(r) * 8}.10", "StatusReport": {"Status": status, "CheckedTime": now}}
            for r in regions
        ]
        return {"HealthCheckObservations": observations}

    # ---- tags of health checks (hosted zone tags are moto's) ----

    def change_tags_for_resource(self, params: dict) -> dict:
        check = self.find(params["ResourceId"])
        tags = {**check.tags, **{t["Key"]: t.get("Value", "") for t in params.get("AddTags", [])}}
        for key in params.get("RemoveTagKeys", []):
            tags.pop(key, None)
        if len(tags) > MAX_TAGS:
            raise invalid(f"A health check can have at most {MAX_TAGS} tags")
        check.tags = tags
        return {}

    def tag_set(self, check_id: str) -> dict:
        check = self.find(check_id)
        return {"ResourceType": "healthcheck", "ResourceId": check.id, "Tags": [{"Key": k, "Value": v} for k, v in check.tags.items()]}

    def list_tags_for_resource(self, params: dict) -> dict:
        return {"ResourceTagSet": self.tag_set(params["ResourceId"])}

    def list_tags_for_resources(self, params: dict) -> dict:
        return {"ResourceTagSets": [self.tag_set(i) for i in params["ResourceIds"]]}

    # ---- record sets and changes ----

    def change_resource_record_sets(self, params: dict) -> dict:
        zone_id = params["HostedZoneId"]
        zone = route53_backends[ACCOUNT][PARTITION].zones.get(zone_id)
        if zone is None:
            raise ApiError("NoSuchHostedZone", f"No hosted zone found with ID: {zone_id}")
        if self.change_seconds > 0 and any(c.zone == zone_id and c.info()["Status"] == "PENDING" for c in self.changes.values()):
            raise ApiError("PriorRequestNotComplete", "The request was rejected because Route 53 was still processing a prior request.")
        changes = []
        records, characters = 0, 0
        for change in params["ChangeBatch"]["Changes"]:
            rr = {**change["ResourceRecordSet"], "Name": dns_name(change["ResourceRecordSet"]["Name"])}
            check_structure(change["Action"], rr)
            # Checked for what a change adds: a record set may outlive its health check (DeleteHealthCheck allows it).
            if change["Action"] != "DELETE" and rr.get("HealthCheckId") is not None and rr["HealthCheckId"] not in self.checks:
                raise ApiError("NoSuchHealthCheck", f"A health check with id {rr['HealthCheckId']} does not exist.")
            weight = 2 if change["Action"] == "UPSERT" else 1  # the quotas count an UPSERT twice
            records += weight * len(rr.get("ResourceRecords", []))
            characters += weight * sum(len(r["Value"]) for r in rr.get("ResourceRecords", []))
            changes.append({"Action": change["Action"], "ResourceRecordSet": rr})
        if records > MAX_RECORDS:
            raise ApiError("InvalidChangeBatch", f"[Number of records limit of {MAX_RECORDS} exceeded.]")
        if characters > MAX_VALUE_CHARACTERS:
            raise ApiError("InvalidChangeBatch", f"[Number of characters limit of {MAX_VALUE_CHARACTERS} exceeded.]")
        current = [from_moto(r) for r in zone.rrsets]
        zone.rrsets = [to_moto(rr) for rr in apply_batch(dns_name(zone.name), current, changes)]
        change = Change(
            id="C" + "".join(mock_random.choice(ID_CHARACTERS) for _ in range(13)),
            zone=zone_id,
            submitted=dt.datetime.now(dt.timezone.utc),
            insync_at=time.monotonic() + self.change_seconds,
            comment=params["ChangeBatch"].get("Comment"),
        )
        self.changes[change.id] = change
        return {"ChangeInfo": {**change.info(), "Status": "PENDING"}}  # every change starts PENDING

    def get_change(self, params: dict) -> dict:
        return {"ChangeInfo": self.changes[params["Id"]].info()}


HANDLED = {
    "CreateHealthCheck",
    "GetHealthCheck",
    "GetHealthCheckCount",
    "ListHealthChecks",
    "UpdateHealthCheck",
    "DeleteHealthCheck",
    "GetHealthCheckStatus",
    "ChangeTagsForResource",
    "ListTagsForResource",
    "ListTagsForResources",
    "ChangeResourceRecordSets",
    "GetChange",
}
TAG_OPERATIONS = {"ChangeTagsForResource", "ListTagsForResource", "ListTagsForResources"}


def location(check_id: str) -> str:
    return f"https://route53.amazonaws.com/2013-04-01/healthcheck/{check_id}"


def reply(start_response: Callable, operation: str, payload: dict) -> list[bytes]:
    op = MODEL.operation_model(operation)
    shape = op.output_shape
    root = shape.serialization.get("name", shape.name)
    document = to_xml(root, payload, shape).replace(f"<{root}>", f'<{root} xmlns="{NAMESPACE}">', 1)
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + document).encode()
    headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", str(uuid.uuid4()))]
    for name, member in shape.members.items():  # e.g. CreateHealthCheck's Location
        if member.serialization.get("location") == "header" and payload.get(name) is not None:
            headers.append((member.serialization["name"], str(payload[name])))
    status = op.http.get("responseCode", 200)
    start_response(f"{status} {HTTPStatus(status).phrase}", headers + [("Content-Length", str(len(body)))])
    return [body]


def error_reply(start_response: Callable, err: ApiError) -> list[bytes]:
    request_id = str(uuid.uuid4())
    body = (
        f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type><Code>{err.code}</Code>'
        f"<Message>{escape(err.message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))]
    start_response(f"{err.status} {HTTPStatus(err.status).phrase}", headers)
    return [body]
