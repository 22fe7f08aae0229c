"""CloudWatch alarm mute rules, which moto lacks, in front of the rpcv2-cbor layer and moto.

The layer answers PutAlarmMuteRule, GetAlarmMuteRule, ListAlarmMuteRules and DeleteAlarmMuteRule, and
TagResource, UntagResource and ListTagsForResource when the ARN is a mute rule's (alarm ARNs go on to moto).
It speaks rpcv2-cbor (`POST /service/GraniteServiceVersion20100801/operation/<Op>`, what the current SDKs
send) and awsJson1_0 (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`, what botocore picks unless told
otherwise), both with CloudWatch's awsQuery-compatible errors: `__type` names the error shape and the
`x-amzn-query-error` header its query code, which is what the SDKs match on (the Rust SDK's
PutAlarmMuteRuleError::LimitExceededFault is code "LimitExceeded").

Rules live here per region (account 123456789012, moto's default) until POST /moto-api/reset. Target alarms
are looked up in moto's CloudWatch backend of the request's region. Status is computed when read, from the
emulator's clock (real time unless a test set it with POST /_emulator/clock).

Decisions the model and documentation leave open (kept in one place, see also the tests):
- Constraint failures of the model (required members, lengths, list sizes, enums) answer the model's
  ValidationException (query code ValidationError, "1 validation error detected: ..."); values the model
  cannot express (expression, duration, time zone, an unknown target alarm, ExpireDate not after StartDate,
  more than 50 tags) answer InvalidParameterValueException (query code InvalidParameterValue); more than 2,000
  rules in a region LimitExceededFault (LimitExceeded); a missing rule (GetAlarmMuteRule, tag operations) and
  an AlarmName filter naming no alarm (the model lists ResourceNotFoundException for ListAlarmMuteRules)
  ResourceNotFoundException (404); a NextToken this layer did not make InvalidNextToken.
- cron: 5 fields, `*`, numbers, `a-b`, `a,b`, JAN-DEC and SUN-SAT in any case; day-of-week numbers as in Unix
  cron (0 and 7 are Sunday); when both day-of-month and day-of-week are restricted a day matching either
  counts (Unix cron). In Timezone: a time a spring-forward skips opens its window at the same instant as the
  skipped wall time read with the earlier offset (02:30 -> 03:30 EDT); a time a fall-back repeats opens once,
  at its first instance. Duration is elapsed time from the start (P1D is 24 hours even across a DST change).
- StartDate and ExpireDate are truncated to the minute when stored (so when returned), as CloudWatch does.
  ACTIVE needs now >= StartDate and now < ExpireDate and now inside an occurrence's window.
- Tags given to PutAlarmMuteRule are kept when it creates the rule and ignored when it updates one (as
  PutMetricAlarm documents for alarms): change them with TagResource/UntagResource.
- MaxRecords defaults to 50 (the model's documentation says so).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from http import HTTPStatus
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo, available_timezones

import cbor2
from moto.cloudwatch.models import cloudwatch_backends

from cbor_layer import CBOR_HEADERS, SERVICES, match, service_model, to_cbor_value
from model_constraints import bounds_violation
from operations import region as request_region

ACCOUNT = "123456789012"  # moto's default account
MODEL = service_model("cloudwatch")
JSON_TARGET = f"{SERVICES['GraniteServiceVersion20100801'][1]}."
RULE_OPERATIONS = {"PutAlarmMuteRule", "GetAlarmMuteRule", "ListAlarmMuteRules", "DeleteAlarmMuteRule"}
TAG_OPERATIONS = {"TagResource", "UntagResource", "ListTagsForResource"}
RULE_ARN = re.compile(r"^arn:aws[a-z-]*:cloudwatch:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):alarm-mute-rule:(?P<name>.+)$")
MAX_RULES = 2000  # per account and region
MAX_TAGS = 50  # per CloudWatch resource
DEFAULT_MAX_RECORDS = 50
UTC = dt.timezone.utc
MIN_DURATION, MAX_DURATION = dt.timedelta(minutes=1), dt.timedelta(days=15)


class ApiError(Exception):
    """A CloudWatch error: `shape` is the model's error shape (its status and query code come from there) or
    an error every AWS service may answer (SerializationException, MissingAuthenticationToken)."""

    def __init__(self, shape: str, message: str, status: int = 400, **members: str) -> None:
        super().__init__(message)
        self.shape, self.message, self.members = shape, message, members
        self.status, self.query_code = status, shape
        if shape in MODEL.shape_names:
            error = MODEL.shape_for(shape).metadata["error"]
            self.status, self.query_code = error["httpStatusCode"], error.get("code", shape)


def invalid(message: str) -> ApiError:
    return ApiError("InvalidParameterValueException", message)


# ---- validation against the model ----


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def validate(value: Any, shape, path: str) -> None:
    """Server-side checks of the model's constraints (SDKs may skip their own), as ValidationException."""
    meta, kind = shape.metadata, shape.type_name

    def bad(why: str) -> None:
        raise ApiError(
            "ValidationException", f"1 validation error detected: Value '{_show(value)}' at '{path}' failed to satisfy constraint: {why}"
        )

    if kind == "structure":
        if not isinstance(value, dict):
            bad("Member must be a structure")
        for name in shape.required_members:
            if value.get(name) is None:
                where = f"{path}.{_camel(name)}" if path else _camel(name)
                message = f"1 validation error detected: Value null at '{where}' failed to satisfy constraint: Member must not be null"
                raise ApiError("ValidationException", message)
        for name, member in shape.members.items():
            if value.get(name) is not None:
                validate(value[name], member, f"{path}.{_camel(name)}" if path else _camel(name))
        return
    if kind == "list":
        if not isinstance(value, list):
            bad("Member must be a list")
        for index, item in enumerate(value, 1):
            validate(item, shape.member, f"{path}.{index}.member")
    elif kind == "string":
        if not isinstance(value, str):
            bad("Member must be a string")
        if shape.enum and value not in shape.enum:
            bad(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            bad("Member must be an integer")
    elif kind == "timestamp":
        if not isinstance(value, (dt.datetime, int, float)) or isinstance(value, bool):
            bad("Member must be a timestamp")
    violation = bounds_violation(value, kind, meta)
    if violation:
        bad(violation)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def to_instant(value: Any) -> dt.datetime:
    """A request timestamp (CBOR tag 1 decodes to a datetime; awsJson sends epoch seconds) as aware UTC."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    return dt.datetime.fromtimestamp(value, UTC)


def epoch(value: dt.datetime) -> float:
    return value.timestamp()


# ---- schedules ----

MONTHS = {name: number for number, name in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}
DAYS = {name: number for number, name in enumerate("SUN MON TUE WED THU FRI SAT".split())}
# (field name, lowest, highest, names)
CRON_FIELDS = [("Minutes", 0, 59, {}), ("Hours", 0, 23, {}), ("Day-of-month", 1, 31, {}), ("Month", 1, 12, MONTHS), ("Day-of-week", 0, 7, DAYS)]
CRON = re.compile(r"^cron\((?P<fields>[^()]*)\)$")
AT = re.compile(r"^at\((?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})T(?P<h>\d{2}):(?P<mi>\d{2})\)$")
DURATION = re.compile(
    r"^P(?!$)(?:(?P<Y>\d+)Y)?(?:(?P<MO>\d+)M)?(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?(?:T(?=\d)(?:(?P<H>\d+)H)?(?:(?P<MI>\d+)M)?(?:(?P<S>\d+)S)?)?$"
)


def _cron_field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int] | None:
    """The values a cron field allows, None for `*` (every value)."""
    if text == "*":
        return None
    if "/" in text:  # CloudWatch documents no step values (EventBridge's cron has them; mute rules do not)
        raise invalid(f"Invalid cron expression: {name} field '{text}': step values (/) are not supported")
    values: set[int] = set()
    for part in text.split(","):
        bounds = part.split("-")
        if len(bounds) > 2 or not all(bounds):
            raise invalid(f"Invalid cron expression: {name} field '{text}' (use *, numbers, ranges a-b and lists a,b)")
        try:
            first, last = (int(b) if b.isdigit() else names[b.upper()] for b in (bounds[0], bounds[-1]))
        except KeyError:
            raise invalid(f"Invalid cron expression: {name} field '{text}' has an unknown value") from None
        if not low <= first <= last <= high:
            raise invalid(f"Invalid cron expression: {name} field '{text}' must be within {low}-{high}, ranges ascending")
        values.update(range(first, last + 1))
    return frozenset(values)


def local_instant(day: dt.date, hour: int, minute: int, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant of a wall-clock time in `zone`. fold=0 takes the first instance of a repeated time and
    reads a skipped time with the offset before the change (so it falls just after the change)."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Schedule:
    zone: ZoneInfo
    duration: dt.timedelta
    at: dt.datetime | None = None  # a one-time window's start (UTC); None for cron
    cron: tuple[frozenset[int] | None, ...] = ()  # minutes, hours, day-of-month, month, day-of-week

    @property
    def mute_type(self) -> str:
        return "ONE_TIME" if self.at else "RECURRING"

    def day_matches(self, day: dt.date) -> bool:
        _, _, days, months, weekdays = self.cron
        if months is not None and day.month not in months:
            return False
        by_date = days is None or day.day in days
        by_weekday = weekdays is None or day.isoweekday() % 7 in weekdays  # Sunday is 0
        if days is not None and weekdays is not None:
            return by_date or by_weekday  # Unix cron: either restricted day field may match
        return by_date and by_weekday

    def last_start(self, now: dt.datetime) -> dt.datetime | None:
        """The latest occurrence at or before `now`, or None when none is recent enough to cover `now`.
        Bounded: it looks at the local days from tomorrow back to Duration (<= 15 days) plus a day ago."""
        if self.at:
            return self.at if self.at <= now else None
        minutes, hours = (sorted(s if s is not None else range(n)) for s, n in ((self.cron[0], 60), (self.cron[1], 24)))
        day = now.astimezone(self.zone).date() + dt.timedelta(days=1)  # a fall-back at midnight can put now "before" it
        oldest = (now - self.duration).astimezone(self.zone).date() - dt.timedelta(days=1)
        while day >= oldest:
            if self.day_matches(day):
                # The latest of the day: wall-clock order is UTC order except right after a spring-forward.
                starts = [t for h in hours for m in minutes if (t := local_instant(day, h, m, self.zone)) <= now]
                if starts:
                    return max(starts)
            day -= dt.timedelta(days=1)
        return None

    def active(self, now: dt.datetime) -> bool:
        start = self.last_start(now)
        return start is not None and start <= now < start + self.duration


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # The IANA names: not paths, nor the files of a system's zoneinfo directory that name no zone.
    return frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}


def parse_schedule(expression: str, duration: str, timezone: str) -> Schedule:
    if timezone not in _zone_names():
        raise invalid(f"Invalid Timezone '{timezone}': use an IANA time zone name such as America/New_York or UTC")
    zone = ZoneInfo(timezone)

    found = DURATION.match(duration)
    if not found:
        raise invalid(f"Invalid Duration '{duration}': use an ISO 8601 duration such as PT4H or P1DT12H")
    parts = {k: int(v or 0) for k, v in found.groupdict().items()}
    # Years and months have no fixed length; any of them is beyond 15 days anyway.
    length = dt.timedelta(
        days=parts["Y"] * 365 + parts["MO"] * 28 + parts["W"] * 7 + parts["D"], hours=parts["H"], minutes=parts["MI"], seconds=parts["S"]
    )
    if not MIN_DURATION <= length <= MAX_DURATION:
        raise invalid(f"Invalid Duration '{duration}': it must be between PT1M and P15D")

    if (at := AT.match(expression)) is not None:
        try:
            day = dt.date(int(at["y"]), int(at["mo"]), int(at["d"]))
            if int(at["h"]) > 23 or int(at["mi"]) > 59:
                raise ValueError
        except ValueError:
            raise invalid(f"Invalid at expression '{expression}': not a date and time") from None
        return Schedule(zone, length, at=local_instant(day, int(at["h"]), int(at["mi"]), zone))
    if (cron := CRON.match(expression)) is not None:
        fields = cron["fields"].split()
        if len(fields) != len(CRON_FIELDS):
            raise invalid(f"Invalid cron expression '{expression}': expected cron(Minutes Hours Day-of-month Month Day-of-week)")
        sets = [_cron_field(text, *spec) for text, spec in zip(fields, CRON_FIELDS)]
        if sets[4] is not None and 7 in sets[4]:
            sets[4] = (sets[4] - {7}) | {0}  # 7 is Sunday too
        return Schedule(zone, length, cron=tuple(sets))
    raise invalid(f"Invalid schedule expression '{expression}': use cron(Minutes Hours Day-of-month Month Day-of-week) or at(yyyy-MM-ddThh:mm)")


# ---- state ----


@dataclass
class MuteRule:
    name: str
    arn: str
    rule: dict  # Rule as given, with Timezone filled in
    schedule: Schedule
    description: str | None
    targets: list[str] | None
    start: dt.datetime | None
    expire: dt.datetime | None
    updated: dt.datetime
    tags: dict[str, str] = field(default_factory=dict)

    def status(self, now: dt.datetime) -> str:
        if self.expire is not None and now >= self.expire:
            return "EXPIRED"
        if self.schedule.at is not None and now >= self.schedule.at + self.schedule.duration:
            return "EXPIRED"  # a one-time window that has ended
        if (self.start is None or now >= self.start) and self.schedule.active(now):
            return "ACTIVE"
        return "SCHEDULED"

    def summary(self, now: dt.datetime) -> dict:
        reply = {
            "AlarmMuteRuleArn": self.arn,
            "Status": self.status(now),
            "MuteType": self.schedule.mute_type,
            "LastUpdatedTimestamp": epoch(self.updated),
        }
        if self.expire is not None:
            reply["ExpireDate"] = epoch(self.expire)
        return reply

    def describe(self, now: dt.datetime) -> dict:
        reply = {"Name": self.name, **self.summary(now), "Rule": self.rule}
        optional = {
            "Description": self.description,
            "MuteTargets": {"AlarmNames": self.targets} if self.targets is not None else None,
            "StartDate": epoch(self.start) if self.start else None,
        }
        reply.update({k: v for k, v in optional.items() if v is not None})
        return reply


class Clock:
    """Real time, or the time a test set with POST /_emulator/clock."""

    def __init__(self) -> None:
        self.fixed: dt.datetime | None = None

    def now(self) -> dt.datetime:
        return self.fixed or dt.datetime.now(UTC)

    def set(self, spec: dict | None) -> None:
        """spec {"now": ISO 8601 time (an offset or Z; none means UTC)}, or None for real time."""
        if spec is None:
            self.fixed = None
            return
        text = spec.get("now")
        if not isinstance(text, str):
            raise ValueError('expected {"now": "<ISO 8601 time, e.g. 2026-12-26T03:00:00Z>"}')
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))  # ValueError for a malformed time
        self.fixed = to_instant(moment)


def _minute(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(second=0, microsecond=0) if value else None


class AlarmMuteRules:
    """WSGI middleware: mute-rule operations (and tag operations on mute-rule ARNs) are answered here, the rest
    goes to `inner`."""

    def __init__(self, inner: Callable) -> None:
        self.inner = inner
        self.lock = threading.RLock()
        self.clock = Clock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.regions: dict[str, dict[str, MuteRule]] = {}  # region -> rule name -> rule
            self.clock.set(None)

    def set_clock(self, spec: dict | None) -> None:
        with self.lock:
            self.clock.set(spec)

    # ---- WSGI ----

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        cbor = match(environ)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if cbor:
            operation = cbor[1]
        elif target.startswith(JSON_TARGET) and environ.get("REQUEST_METHOD") == "POST":
            operation = target[len(JSON_TARGET) :]
        else:
            return self.inner(environ, start_response)
        if operation not in RULE_OPERATIONS | TAG_OPERATIONS:
            return self.inner(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # for the inner layers, when the request goes on
        try:
            params = (cbor2.loads(body) if cbor else json.loads(body)) if body.strip() else {}
            if not isinstance(params, dict):
                raise ValueError("the body must be a map")
        except Exception as err:  # a malformed body is the client's error, as in AWS
            return self.reply(start_response, bool(cbor), ApiError("SerializationException", str(err)))
        if operation in TAG_OPERATIONS and not RULE_ARN.match(str(params.get("ResourceARN", ""))):
            return self.inner(environ, start_response)  # an alarm's (or another resource's): moto's

        region = request_region(environ)
        try:
            if region is None:
                raise ApiError("MissingAuthenticationToken", "Request is missing a SigV4 Authorization header", 403)
            op = MODEL.operation_model(operation)
            validate(params, op.input_shape, "")
            with self.lock:
                payload = getattr(self, _snake(operation))(region, params, self.clock.now())
        except ApiError as err:
            return self.reply(start_response, bool(cbor), err)
        if cbor and op.output_shape is not None:
            payload = to_cbor_value(payload, op.output_shape)
        return self.reply(start_response, bool(cbor), payload or {})

    def reply(self, start_response: Callable, cbor: bool, payload: dict | ApiError) -> list[bytes]:
        headers = [("x-amzn-RequestId", str(uuid.uuid4()))]
        status = 200
        if isinstance(payload, ApiError):
            status, headers = payload.status, headers + [("x-amzn-query-error", f"{payload.query_code};Sender")]
            payload = {"__type": payload.shape, "message": payload.message, **payload.members}
        if cbor:
            data, headers = cbor2.dumps(payload), headers + CBOR_HEADERS
        else:
            data, headers = json.dumps(payload).encode(), headers + [("Content-Type", "application/x-amz-json-1.0")]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers + [("Content-Length", str(len(data)))])
        return [data]

    # ---- operations: (region, validated input, now) -> output ----

    def rules(self, region: str) -> dict[str, MuteRule]:
        return self.regions.setdefault(region, {})

    def find(self, region: str, name: str) -> MuteRule:
        rule = self.rules(region).get(name)
        if rule is None:
            raise ApiError("ResourceNotFoundException", f"Alarm mute rule {name} does not exist", ResourceType="AlarmMuteRule", ResourceId=name)
        return rule

    def put_alarm_mute_rule(self, region: str, params: dict, now: dt.datetime) -> None:
        name, schedule_in = params["Name"], params["Rule"]["Schedule"]
        timezone = schedule_in.get("Timezone") or "UTC"
        schedule = parse_schedule(schedule_in["Expression"], schedule_in["Duration"], timezone)
        try:
            start, expire = (_minute(to_instant(params[k])) if params.get(k) is not None else None for k in ("StartDate", "ExpireDate"))
        except (OverflowError, OSError, ValueError):
            raise invalid("StartDate and ExpireDate must be valid times") from None
        if start and expire and expire <= start:
            raise invalid("ExpireDate must be later than StartDate")
        targets = params.get("MuteTargets", {}).get("AlarmNames") if params.get("MuteTargets") else None
        try:
            alarms = cloudwatch_backends[ACCOUNT][region].alarms
        except KeyError:  # a region moto does not know has no alarms
            alarms = {}
        missing = [t for t in targets or [] if t not in alarms]
        if missing:
            raise invalid(f"The alarms {', '.join(missing)} do not exist in {region}")
        tags = {t["Key"]: t["Value"] for t in params.get("Tags") or []}
        if len(tags) > MAX_TAGS:
            raise invalid(f"A resource can have at most {MAX_TAGS} tags")

        rules = self.rules(region)
        existing = rules.get(name)
        if existing is None and len(rules) >= MAX_RULES:
            raise ApiError("LimitExceededFault", f"The limit of {MAX_RULES} alarm mute rules in {region} has been reached")
        # LastUpdatedTimestamp moves on every put, even within one millisecond or with the clock held still.
        updated = now if existing is None or now > existing.updated else existing.updated + dt.timedelta(milliseconds=1)
        rules[name] = MuteRule(
            name=name,
            arn=f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm-mute-rule:{name}",
            rule={"Schedule": {"Expression": schedule_in["Expression"], "Duration": schedule_in["Duration"], "Timezone": timezone}},
            schedule=schedule,
            description=params.get("Description"),
            targets=list(targets) if targets is not None else None,
            start=start,
            expire=expire,
            updated=updated,
            tags=existing.tags if existing else tags,  # an update ignores Tags (as PutMetricAlarm does)
        )
        return None

    def get_alarm_mute_rule(self, region: str, params: dict, now: dt.datetime) -> dict:
        return self.find(region, params["AlarmMuteRuleName"]).describe(now)

    def list_alarm_mute_rules(self, region: str, params: dict, now: dt.datetime) -> dict:
        found = sorted(self.rules(region).values(), key=lambda r: r.name)
        alarm = params.get("AlarmName")
        if alarm is not None:
            try:
                known = alarm in cloudwatch_backends[ACCOUNT][region].alarms
            except KeyError:
                known = False
            if not known:
                raise ApiError("ResourceNotFoundException", f"Alarm {alarm} does not exist", ResourceType="Alarm", ResourceId=alarm)
            found = [r for r in found if alarm in (r.targets or [])]
        statuses = params.get("Statuses")
        summaries = [(r.name, r.summary(now)) for r in found]
        if statuses:
            summaries = [(n, s) for n, s in summaries if s["Status"] in statuses]
        # NextToken: the last name returned, so a page boundary survives rules being added or deleted.
        token = params.get("NextToken")
        if token is not None:
            try:
                after = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                after = None
            if not after:
                raise ApiError("InvalidNextToken", "The NextToken is not valid")
            summaries = [(n, s) for n, s in summaries if n > after]
        size = params.get("MaxRecords") or DEFAULT_MAX_RECORDS
        reply: dict[str, Any] = {"AlarmMuteRuleSummaries": [s for _, s in summaries[:size]]}
        if len(summaries) > size:
            reply["NextToken"] = base64.urlsafe_b64encode(summaries[size - 1][0].encode()).decode()
        return reply

    def delete_alarm_mute_rule(self, region: str, params: dict, now: dt.datetime) -> None:
        self.rules(region).pop(params["AlarmMuteRuleName"], None)  # idempotent: a missing rule is no error
        return None

    # ---- tags of mute rules ----

    def rule_by_arn(self, region: str, arn: str) -> MuteRule:
        found = RULE_ARN.match(arn)
        rule = self.rules(region).get(found["name"]) if found and found["region"] == region and found["account"] == ACCOUNT else None
        if rule is None or rule.arn != arn:
            message = f"Resource {arn} does not exist in {region}"
            raise ApiError("ResourceNotFoundException", message, ResourceType="AlarmMuteRule", ResourceId=arn)
        return rule

    def tag_resource(self, region: str, params: dict, now: dt.datetime) -> None:
        rule = self.rule_by_arn(region, params["ResourceARN"])
        tags = {**rule.tags, **{t["Key"]: t["Value"] for t in params["Tags"]}}
        if len(tags) > MAX_TAGS:
            raise invalid(f"A resource can have at most {MAX_TAGS} tags")
        rule.tags = tags
        return None

    def untag_resource(self, region: str, params: dict, now: dt.datetime) -> None:
        rule = self.rule_by_arn(region, params["ResourceARN"])
        rule.tags = {k: v for k, v in rule.tags.items() if k not in params["TagKeys"]}
        return None

    def list_tags_for_resource(self, region: str, params: dict, now: dt.datetime) -> dict:
        rule = self.rule_by_arn(region, params["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in rule.tags.items()]}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
