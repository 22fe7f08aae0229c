"""CloudWatch alarms evaluated from PutMetricData, which moto does not do (its alarms change state only by
SetAlarmState).

The layer sits between the rpcv2-cbor layer and moto, so it sees PutMetricData and PutMetricAlarm as awsJson (what
CborLayer forwards for the current SDKs, and what awsJson clients send; awsQuery requests are not evaluated). When moto
has accepted a PutMetricData, the layer keeps its datapoints (per region and metric, in memory, until POST
/moto-api/reset) and evaluates every metric alarm of that region that watches one of the metrics; when moto has
accepted a PutMetricAlarm, it evaluates that alarm (moto puts a re-put alarm back to OK).

The rule, simple on purpose:
- Evaluated alarms: a MetricName and Namespace (no metric math), a Statistic (SampleCount, Average, Sum, Minimum,
  Maximum; no ExtendedStatistic), a static Threshold (no ThresholdMetricId) and one of GreaterThanOrEqualToThreshold,
  GreaterThanThreshold, LessThanThreshold, LessThanOrEqualToThreshold. Their metric: the datapoints of the same
  namespace and metric name with exactly the same dimensions (Unit is not compared).
- Window: EvaluationPeriods periods of Period seconds ending at `now`, period k = (now - (k+1)*Period, now - k*Period].
  `now` is the wall clock, or the metric's newest datapoint when that is later (CloudWatch takes timestamps up to two
  hours ahead; such a datapoint counts as if its time had come, which lets a test move past a period at once).
- A period's value is the Statistic over its datapoints (a Value counts as one sample; Values/Counts and
  StatisticValues as given). It breaches when `value <op> Threshold` holds. A period without datapoints breaches only
  when TreatMissingData is "breaching"; otherwise it does not count.
- No datapoint in the window: the state stays. Else ALARM when at least DatapointsToAlarm (default EvaluationPeriods)
  periods breach, OK otherwise; set with moto's set_alarm_state only when the state changes.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import defaultdict
from typing import Any, Callable, Iterable

from moto.cloudwatch.models import cloudwatch_backends

from cbor_layer import SERVICES
from cbor_layer import _epoch as epoch_seconds
from operations import region as request_region

ACCOUNT = "123456789012"  # moto's default account
TARGET = f"{SERVICES['GraniteServiceVersion20100801'][1]}."
KEEP_SECONDS = 7 * 24 * 3600  # datapoints older than this are dropped (longer than any evaluation window)
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
STATISTICS: dict[str, Callable[[list[tuple]], float]] = {  # over (timestamp, count, sum, minimum, maximum) samples
    "SampleCount": lambda s: sum(p[1] for p in s),
    "Sum": lambda s: sum(p[2] for p in s),
    "Average": lambda s: sum(p[2] for p in s) / sum(p[1] for p in s),
    "Minimum": lambda s: min(p[3] for p in s),
    "Maximum": lambda s: max(p[4] for p in s),
}


def metric_key(namespace: str, name: str, dimensions: list[dict] | None) -> tuple:
    return namespace, name, frozenset((d["Name"], d.get("Value")) for d in dimensions or [])


def samples(datum: dict, now: float) -> list[tuple]:
    """A MetricDatum as (timestamp, count, sum, minimum, maximum) samples."""
    stamp = epoch_seconds(datum["Timestamp"]) if datum.get("Timestamp") is not None else now
    if datum.get("StatisticValues"):
        s = datum["StatisticValues"]
        return [(stamp, float(s["SampleCount"]), float(s["Sum"]), float(s["Minimum"]), float(s["Maximum"]))]
    if datum.get("Values"):
        counts = datum.get("Counts") or [1.0] * len(datum["Values"])
        return [(stamp, float(c), float(v) * float(c), float(v), float(v)) for v, c in zip(datum["Values"], counts)]
    if datum.get("Value") is not None:
        value = float(datum["Value"])
        return [(stamp, 1.0, value, value, value)]
    return []


class AlarmEvaluation:
    """WSGI middleware in front of moto: keeps PutMetricData's datapoints and evaluates the alarms watching them."""

    def __init__(self, inner: Callable) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.points: dict[str, dict[tuple, list[tuple]]] = defaultdict(lambda: defaultdict(list))  # region -> metric -> samples

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        operation = target[len(TARGET) :] if target.startswith(TARGET) else None
        region = request_region(environ)
        if operation not in ("PutMetricData", "PutMetricAlarm") or region is None:
            return self.inner(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info=None):
            captured["status"] = status
            return start_response(status, headers, exc_info)

        chunks = self.inner(environ, capture)
        try:
            params = json.loads(body) if body.strip() else {}
        except ValueError:
            return chunks  # moto has answered the malformed request already
        if captured.get("status", "").startswith("200") and isinstance(params, dict):
            if operation == "PutMetricData":
                self.put_metric_data(region, params)
            else:
                self.evaluate(region, {str(params.get("AlarmName"))})
        return chunks

    def put_metric_data(self, region: str, params: dict) -> None:
        now = time.time()
        watched = set()
        with self.lock:
            for datum in params.get("MetricData") or []:
                key = metric_key(str(params.get("Namespace")), str(datum.get("MetricName")), datum.get("Dimensions"))
                kept = [p for p in self.points[region][key] + samples(datum, now) if p[0] > now - KEEP_SECONDS]
                self.points[region][key] = kept
                watched.add(key)
        try:
            alarms = cloudwatch_backends[ACCOUNT][region].alarms.values()
        except KeyError:  # a region moto does not know
            return
        self.evaluate(region, {a.name for a in alarms if metric_key(a.namespace, a.metric_name, _dimensions(a)) in watched})

    def evaluate(self, region: str, names: set[str]) -> None:
        try:
            backend = cloudwatch_backends[ACCOUNT][region]
        except KeyError:
            return
        for name in names:
            alarm = backend.alarms.get(name)
            if alarm is None or not evaluable(alarm):
                continue
            with self.lock:
                points = list(self.points[region].get(metric_key(alarm.namespace, alarm.metric_name, _dimensions(alarm)), []))
            state, reason = judge(alarm, points, time.time())
            if state is not None and state != alarm.state_value:
                data = json.dumps({"version": "1.0", "statistic": alarm.statistic, "period": int(alarm.period), "threshold": float(alarm.threshold)})
                backend.set_alarm_state(name, reason, data, state)


def _dimensions(alarm) -> list[dict]:
    return [{"Name": d.name, "Value": d.value} for d in alarm.dimensions]


def evaluable(alarm) -> bool:
    return bool(
        alarm.metric_name
        and alarm.namespace
        and not alarm.metric_data_queries
        and alarm.statistic in STATISTICS
        and not alarm.extended_statistic
        and not alarm.threshold_metric_id
        and alarm.comparison_operator in OPERATORS
    )


def judge(alarm, points: list[tuple], wall_clock: float) -> tuple[str | None, str]:
    """(new state or None to keep it, reason) of an evaluable alarm over its metric's samples (see the module's rule)."""
    period, count = int(alarm.period), int(alarm.evaluation_periods)
    needed = int(alarm.datapoints_to_alarm or count)
    now = max([wall_clock] + [p[0] for p in points])
    buckets: list[list[tuple]] = [[] for _ in range(count)]
    for point in points:
        index = int((now - point[0]) // period)  # t in (now-(k+1)P, now-kP] <=> kP <= now-t < (k+1)P
        if index < count:
            buckets[index].append(point)
    values = [STATISTICS[alarm.statistic](b) if b else None for b in buckets]
    if all(v is None for v in values):
        return None, ""
    compare, threshold = OPERATORS[alarm.comparison_operator], float(alarm.threshold)
    missing_breaches = alarm.treat_missing_data == "breaching"
    breaching = sum(1 for v in values if (missing_breaches if v is None else compare(v, threshold)))
    state = "ALARM" if breaching >= needed else "OK"
    shown = ", ".join("missing" if v is None else f"{v:g}" for v in values)
    reason = (
        f"Threshold Crossed: {breaching} out of the last {count} datapoints [{shown}] "
        f"{'were' if state == 'ALARM' else 'were not'} {alarm.comparison_operator} the threshold ({threshold:g}) "
        f"(minimum {needed} datapoint{'s' if needed != 1 else ''} for ALARM)."
    )
    return state, reason
