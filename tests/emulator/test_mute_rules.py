"""Tests of the CloudWatch alarm mute rules layer, through boto3 speaking rpcv2-cbor (as the Rust SDK does)."""

from __future__ import annotations

import datetime as dt
import struct
import urllib.error
import urllib.request

import boto3
import botocore.config
import botocore.exceptions
import botocore.model
import cbor2
import pytest

import mute_rules
from emulator_test_support import CBOR_FIRST, EAST, NO_RETRY, WEST, calls, control

UTC = dt.timezone.utc


@pytest.fixture()
def client(endpoint, monkeypatch):
    """client(region, **extra): a CloudWatch client that speaks rpcv2-cbor. The emulator is reset first."""
    control(endpoint, "/moto-api/reset")

    def make(region: str = EAST, **extra):
        with monkeypatch.context() as patch:
            patch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", CBOR_FIRST)
            made = boto3.client(
                "cloudwatch", region_name=region, endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing", **extra
            )
        assert made.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
        return made

    return make


@pytest.fixture()
def cw(client):
    return client()


def put_alarm(cw, name: str) -> None:
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Connect",
        MetricName="LongestQueueWaitTime",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=120.0,
        ComparisonOperator="GreaterThanThreshold",
    )


def put_rule(cw, name: str, expression: str = "cron(0 2 * * *)", duration: str = "PT2H", timezone: str | None = "UTC", targets=None, **extra):
    schedule = {"Expression": expression, "Duration": duration}
    if timezone is not None:
        schedule["Timezone"] = timezone
    if targets is not None:
        extra["MuteTargets"] = {"AlarmNames": targets}
    cw.put_alarm_mute_rule(Name=name, Rule={"Schedule": schedule}, **extra)


def error_of(call) -> tuple[str, int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def at(endpoint: str, now: str) -> None:
    assert control(endpoint, "/_emulator/clock", {"now": now}) == 200


def status(cw, name: str) -> str:
    return cw.get_alarm_mute_rule(AlarmMuteRuleName=name)["Status"]


def test_round_trip_of_every_field(cw):
    put_alarm(cw, "queue-wait")
    put_alarm(cw, "abandon-rate")
    put_rule(
        cw,
        "weekly",
        expression="cron(0 2 * * SUN)",
        duration="PT4H",
        timezone="America/New_York",
        targets=["queue-wait", "abandon-rate"],
        Description="Sunday maintenance",
        Tags=[{"Key": "dialtone.io/owner", "Value": "cc/maint"}],
        StartDate=dt.datetime(2026, 12, 1, 8, 0, 45, 500000, tzinfo=UTC),
        ExpireDate=dt.datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC),
    )
    rule = cw.get_alarm_mute_rule(AlarmMuteRuleName="weekly")
    rule.pop("ResponseMetadata")
    assert isinstance(rule.pop("LastUpdatedTimestamp"), dt.datetime)
    assert rule == {
        "Name": "weekly",
        "AlarmMuteRuleArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm-mute-rule:weekly",
        "Description": "Sunday maintenance",
        "Rule": {"Schedule": {"Expression": "cron(0 2 * * SUN)", "Duration": "PT4H", "Timezone": "America/New_York"}},
        "MuteTargets": {"AlarmNames": ["queue-wait", "abandon-rate"]},
        # Truncated to the minute, as CloudWatch returns them.
        "StartDate": dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        "ExpireDate": dt.datetime(2027, 1, 31, 23, 59, tzinfo=UTC),
        "Status": rule["Status"],
        "MuteType": "RECURRING",
    }
    assert rule["Status"] in ("SCHEDULED", "ACTIVE", "EXPIRED")

    put_rule(cw, "once", expression="at(2099-01-01T00:00)", duration="P1DT12H", timezone=None)
    once = cw.get_alarm_mute_rule(AlarmMuteRuleName="once")
    assert once["MuteType"] == "ONE_TIME" and once["Status"] == "SCHEDULED"  # real time: 2099 is ahead
    assert once["Rule"]["Schedule"]["Timezone"] == "UTC"  # the default, filled in
    assert "MuteTargets" not in once and "StartDate" not in once and "ExpireDate" not in once and "Description" not in once


def test_cron_status_follows_new_york_wall_time_across_dst(endpoint, cw):
    put_rule(cw, "nightly", expression="cron(0 2 * * *)", duration="PT2H", timezone="America/New_York")
    expected = [
        ("2026-10-31T05:59:00Z", "SCHEDULED"),  # 01:59 EDT
        ("2026-10-31T06:30:00Z", "ACTIVE"),  # 02:30 EDT (UTC-4)
        ("2026-11-02T06:30:00Z", "SCHEDULED"),  # 01:30 EST: 02:00 EDT would have been 06:00Z
        ("2026-11-02T07:30:00Z", "ACTIVE"),  # 02:30 EST (UTC-5), after the fall-back of Nov 1
        ("2026-11-02T08:59:00Z", "ACTIVE"),
        ("2026-11-02T09:00:00Z", "SCHEDULED"),  # the 2 hours are over
        ("2027-03-14T07:30:00Z", "ACTIVE"),  # spring-forward day: 02:00 does not exist, the window opens at 03:00 EDT
    ]
    for now, want in expected:
        at(endpoint, now)
        assert (now, status(cw, "nightly")) == (now, want)

    # A time the fall-back repeats opens one window, at its first instance.
    put_rule(cw, "half-past-one", expression="cron(30 1 * * *)", duration="PT30M", timezone="America/New_York")
    at(endpoint, "2026-11-01T05:45:00Z")  # 01:45 EDT
    assert status(cw, "half-past-one") == "ACTIVE"
    at(endpoint, "2026-11-01T06:40:00Z")  # 01:40 EST, the second 01:40 of the day
    assert status(cw, "half-past-one") == "SCHEDULED"

    # StartDate and ExpireDate bound the windows.
    put_rule(
        cw,
        "bounded",
        expression="cron(0 22 * * FRI)",
        duration="P2DT8H",
        timezone="America/New_York",
        StartDate=dt.datetime(2026, 12, 26, 0, 0, tzinfo=UTC),
        ExpireDate=dt.datetime(2027, 1, 10, 0, 0, tzinfo=UTC),
    )
    at(endpoint, "2026-12-19T04:00:00Z")  # Fri Dec 18 23:00 EST: inside a window, before StartDate
    assert status(cw, "bounded") == "SCHEDULED"
    at(endpoint, "2026-12-26T03:00:00Z")  # Fri Dec 25 22:00 EST: a window opens, after StartDate
    assert status(cw, "bounded") == "ACTIVE"
    at(endpoint, "2027-01-10T00:00:00Z")
    assert status(cw, "bounded") == "EXPIRED"
    assert control(endpoint, "/_emulator/clock", method="DELETE") == 200


def test_one_time_status(endpoint, cw):
    put_rule(cw, "christmas", expression="at(2026-12-25T22:00)", duration="PT6H", timezone="America/New_York")
    for now, want in [
        ("2026-12-26T02:59:00Z", "SCHEDULED"),
        ("2026-12-26T03:00:00Z", "ACTIVE"),  # 22:00 EST
        ("2026-12-26T08:59:00Z", "ACTIVE"),
        ("2026-12-26T09:00:00Z", "EXPIRED"),  # 04:00 EST: the window has ended
    ]:
        at(endpoint, now)
        assert (now, status(cw, "christmas")) == (now, want)

    # DELETE /_emulator/clock and a reset both return to real time (2099 is ahead of it).
    put_rule(cw, "far", expression="at(2099-06-01T00:00)", duration="PT1M")
    at(endpoint, "2100-01-01T00:00:00Z")
    assert status(cw, "far") == "EXPIRED"
    assert control(endpoint, "/_emulator/clock", method="DELETE") == 200
    assert status(cw, "far") == "SCHEDULED"
    at(endpoint, "2100-01-01T00:00:00")  # no offset: UTC
    assert status(cw, "far") == "EXPIRED"
    control(endpoint, "/moto-api/reset")
    put_rule(cw, "far", expression="at(2099-06-01T00:00)", duration="PT1M")
    assert status(cw, "far") == "SCHEDULED"
    assert control(endpoint, "/_emulator/clock", {"now": "yesterday"}) == 400
    assert control(endpoint, "/_emulator/clock", {"when": "2100-01-01T00:00:00Z"}) == 400


@pytest.mark.parametrize(
    "change, code",
    [
        ({"targets": [f"a{i}" for i in range(101)]}, "ValidationError"),
        ({"targets": ["queue-wait", "no-such-alarm"]}, "InvalidParameterValue"),
        ({"expression": "cron(*/15 * * * *)"}, "InvalidParameterValue"),
        ({"expression": "cron(0 2 * *)"}, "InvalidParameterValue"),
        ({"expression": "cron(0 2 ? * MON)"}, "InvalidParameterValue"),
        ({"expression": "cron(0 24 * * *)"}, "InvalidParameterValue"),
        ({"expression": "cron(0 2 * FOO *)"}, "InvalidParameterValue"),
        ({"expression": "rate(5 minutes)"}, "InvalidParameterValue"),
        ({"expression": "at(2026-02-30T10:00)"}, "InvalidParameterValue"),
        ({"expression": "at(2026-12-01T10:00:00)"}, "InvalidParameterValue"),
        ({"duration": "PT0M"}, "InvalidParameterValue"),
        ({"duration": "-PT1H"}, "InvalidParameterValue"),
        ({"duration": "PT30S"}, "InvalidParameterValue"),
        ({"duration": "P15DT1M"}, "InvalidParameterValue"),
        ({"duration": "2 hours"}, "InvalidParameterValue"),
        ({"timezone": "Mars/Olympus"}, "InvalidParameterValue"),
        ({"name": "n" * 256}, "ValidationError"),
        ({"expression": "x" * 257}, "ValidationError"),
        (
            {"StartDate": dt.datetime(2027, 1, 1, tzinfo=UTC), "ExpireDate": dt.datetime(2027, 1, 1, 0, 0, 30, tzinfo=UTC)},
            "InvalidParameterValue",  # the same minute once truncated
        ),
    ],
)
def test_invalid_rules_are_refused(cw, change, code):
    put_alarm(cw, "queue-wait")
    args = {"name": "r", "targets": ["queue-wait"], **change}
    name = args.pop("name")
    got, status_code, message = error_of(lambda: put_rule(cw, name, **args))
    assert (got, status_code) == (code, 400), message
    assert cw.list_alarm_mute_rules()["AlarmMuteRuleSummaries"] == []


def test_accepted_forms(cw):
    put_alarm(cw, "queue-wait")
    for i, (expression, duration) in enumerate(
        [
            ("cron(0-30 1,2 1-7 JAN-mar mon-FRI)", "PT1M"),
            ("cron(0 18 * * fri)", "P2DT12H"),
            ("cron(0 1 1 * 0,7)", "PT90M"),
            ("at(2027-05-10T14:00)", "P15D"),
            ("cron(0 23 * * *)", "PT2H"),
        ]
    ):
        put_rule(cw, f"ok-{i}", expression=expression, duration=duration, timezone="Europe/London", targets=["queue-wait"] * (i + 1))
    assert len(cw.list_alarm_mute_rules()["AlarmMuteRuleSummaries"]) == 5


def test_missing_members_and_missing_rule(cw):
    with pytest.raises(botocore.exceptions.ParamValidationError):
        cw.put_alarm_mute_rule(Name="r")  # boto3 checks required members itself; the layer does too (raw test)
    code, status_code, _ = error_of(lambda: cw.get_alarm_mute_rule(AlarmMuteRuleName="missing"))
    assert (code, status_code) == ("ResourceNotFoundException", 404)
    with pytest.raises(cw.exceptions.ResourceNotFoundException):
        cw.get_alarm_mute_rule(AlarmMuteRuleName="missing")


def test_rule_limit_per_region(cw, client, monkeypatch):
    monkeypatch.setattr(mute_rules, "MAX_RULES", 3)  # the in-process server shares the module (2,000 in AWS)
    for i in range(3):
        put_rule(cw, f"r{i}")
    with pytest.raises(cw.exceptions.LimitExceededFault) as raised:
        put_rule(cw, "r3")
    assert raised.value.response["Error"]["Code"] == "LimitExceeded"
    put_rule(cw, "r0", duration="PT3H")  # an update is no new rule
    put_rule(client(WEST), "r3")  # another region has its own limit
    cw.delete_alarm_mute_rule(AlarmMuteRuleName="r1")
    put_rule(cw, "r3")


def test_update_by_name_moves_last_updated_and_keeps_tags(endpoint, cw):
    put_alarm(cw, "queue-wait")
    put_rule(cw, "r", targets=["queue-wait"], Tags=[{"Key": "team", "Value": "cc"}])
    first = cw.get_alarm_mute_rule(AlarmMuteRuleName="r")
    put_rule(cw, "r", expression="at(2099-01-01T00:00)", duration="PT1H", Description="moved", Tags=[{"Key": "other", "Value": "x"}])
    second = cw.get_alarm_mute_rule(AlarmMuteRuleName="r")
    assert second["LastUpdatedTimestamp"] > first["LastUpdatedTimestamp"]
    assert second["Description"] == "moved" and second["MuteType"] == "ONE_TIME" and "MuteTargets" not in second
    assert cw.list_tags_for_resource(ResourceARN=second["AlarmMuteRuleArn"])["Tags"] == [{"Key": "team", "Value": "cc"}]
    # With the clock held still, a put still moves it.
    at(endpoint, "2026-12-26T03:00:00Z")
    put_rule(cw, "r")
    third = cw.get_alarm_mute_rule(AlarmMuteRuleName="r")["LastUpdatedTimestamp"]
    put_rule(cw, "r")
    assert cw.get_alarm_mute_rule(AlarmMuteRuleName="r")["LastUpdatedTimestamp"] > third
    assert len(cw.list_alarm_mute_rules()["AlarmMuteRuleSummaries"]) == 1


def test_list_paging_and_filters(endpoint, cw):
    for alarm in ("a", "b", "unmuted"):
        put_alarm(cw, alarm)
    put_rule(cw, "r1", expression="cron(0 2 * * *)", targets=["a"])
    put_rule(cw, "r2", expression="at(2026-12-26T02:00)", duration="PT2H", targets=["a", "b"], ExpireDate=dt.datetime(2027, 1, 1, tzinfo=UTC))
    put_rule(cw, "r3", expression="at(2026-12-20T00:00)", duration="PT1H", targets=["b"])
    at(endpoint, "2026-12-26T03:00:00Z")  # r1 and r2 ACTIVE, r3 EXPIRED

    arns, token, pages = [], None, 0
    while True:
        page = cw.list_alarm_mute_rules(MaxRecords=1, **({"NextToken": token} if token else {}))
        arns += [s["AlarmMuteRuleArn"] for s in page["AlarmMuteRuleSummaries"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3
    assert arns == [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm-mute-rule:r{i}" for i in (1, 2, 3)]

    summaries = cw.list_alarm_mute_rules()["AlarmMuteRuleSummaries"]
    assert [set(s) for s in summaries] == [
        {"AlarmMuteRuleArn", "Status", "MuteType", "LastUpdatedTimestamp"},
        {"AlarmMuteRuleArn", "Status", "MuteType", "LastUpdatedTimestamp", "ExpireDate"},
        {"AlarmMuteRuleArn", "Status", "MuteType", "LastUpdatedTimestamp"},
    ]
    assert [(s["Status"], s["MuteType"]) for s in summaries] == [("ACTIVE", "RECURRING"), ("ACTIVE", "ONE_TIME"), ("EXPIRED", "ONE_TIME")]

    def names(**filters) -> list[str]:
        return [s["AlarmMuteRuleArn"].rsplit(":", 1)[1] for s in cw.list_alarm_mute_rules(**filters)["AlarmMuteRuleSummaries"]]

    assert names(AlarmName="a") == ["r1", "r2"]
    assert names(AlarmName="b") == ["r2", "r3"]
    assert names(AlarmName="unmuted") == []
    assert names(Statuses=["EXPIRED"]) == ["r3"]
    assert names(Statuses=["ACTIVE", "SCHEDULED"]) == ["r1", "r2"]
    assert names(AlarmName="b", Statuses=["ACTIVE"]) == ["r2"]
    at(endpoint, "2026-12-26T05:00:00Z")  # r1 (02:00-04:00 UTC) and r2 over
    assert names(Statuses=["ACTIVE"]) == []

    assert error_of(lambda: cw.list_alarm_mute_rules(NextToken="%%%"))[:2] == ("InvalidNextToken", 400)
    assert error_of(lambda: cw.list_alarm_mute_rules(AlarmName="no-such-alarm"))[:2] == ("ResourceNotFoundException", 404)
    assert error_of(lambda: cw.list_alarm_mute_rules(MaxRecords=101))[:2] == ("ValidationError", 400)


def test_tags_of_rules_and_alarms(cw, client):
    put_alarm(cw, "queue-wait")
    put_rule(cw, "r", targets=["queue-wait"], Tags=[{"Key": "team", "Value": "cc"}, {"Key": "env", "Value": "prod"}])
    arn = cw.get_alarm_mute_rule(AlarmMuteRuleName="r")["AlarmMuteRuleArn"]
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "cc"}, {"Key": "env", "Value": "prod"}]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "staging"}, {"Key": "owner", "Value": "ops"}])
    cw.untag_resource(ResourceARN=arn, TagKeys=["team", "absent"])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "staging"}, {"Key": "owner", "Value": "ops"}]

    # Alarm ARNs still go to moto.
    alarm_arn = cw.describe_alarms(AlarmNames=["queue-wait"])["MetricAlarms"][0]["AlarmArn"]
    cw.tag_resource(ResourceARN=alarm_arn, Tags=[{"Key": "k", "Value": "v"}])
    assert cw.list_tags_for_resource(ResourceARN=alarm_arn)["Tags"] == [{"Key": "k", "Value": "v"}]

    missing = arn.replace(":r", ":missing")
    assert error_of(lambda: cw.list_tags_for_resource(ResourceARN=missing))[:2] == ("ResourceNotFoundException", 404)
    assert error_of(lambda: client(WEST).list_tags_for_resource(ResourceARN=arn))[:2] == ("ResourceNotFoundException", 404)
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert error_of(lambda: cw.tag_resource(ResourceARN=arn, Tags=too_many))[:2] == ("InvalidParameterValue", 400)


def test_delete_is_idempotent_and_regions_are_separate(cw, client):
    put_alarm(cw, "queue-wait")
    put_rule(cw, "r", targets=["queue-wait"])
    west = client(WEST)
    assert west.list_alarm_mute_rules()["AlarmMuteRuleSummaries"] == []
    # The alarm exists in us-east-1 only.
    assert error_of(lambda: put_rule(west, "r", targets=["queue-wait"]))[:2] == ("InvalidParameterValue", 400)
    arn = cw.get_alarm_mute_rule(AlarmMuteRuleName="r")["AlarmMuteRuleArn"]
    cw.delete_alarm_mute_rule(AlarmMuteRuleName="r")
    cw.delete_alarm_mute_rule(AlarmMuteRuleName="r")
    cw.delete_alarm_mute_rule(AlarmMuteRuleName="never-was")
    assert error_of(lambda: cw.get_alarm_mute_rule(AlarmMuteRuleName="r"))[:2] == ("ResourceNotFoundException", 404)
    assert error_of(lambda: cw.list_tags_for_resource(ResourceARN=arn))[:2] == ("ResourceNotFoundException", 404)


def test_calls_are_recorded_throttled_and_cut_by_outages(endpoint, client):
    cw = client(config=botocore.config.Config(user_agent_appid="dialtone"))
    fault = {"service": "cloudwatch", "operation": "PutAlarmMuteRule", "every": 1, "count": 2}
    assert control(endpoint, "/_emulator/faults", fault) == 200
    put_rule(cw, "r")  # botocore retries throttling; the third attempt is served
    cw.get_alarm_mute_rule(AlarmMuteRuleName="r")
    assert calls(endpoint) == [
        {"service": "cloudwatch", "operation": "PutAlarmMuteRule", "outcome": "throttled", "client": "dialtone", "region": EAST},
        {"service": "cloudwatch", "operation": "PutAlarmMuteRule", "outcome": "throttled", "client": "dialtone", "region": EAST},
        {"service": "cloudwatch", "operation": "PutAlarmMuteRule", "outcome": "served", "client": "dialtone", "region": EAST},
        {"service": "cloudwatch", "operation": "GetAlarmMuteRule", "outcome": "served", "client": "dialtone", "region": EAST},
    ]

    control(endpoint, "/_emulator/calls", method="DELETE")
    assert control(endpoint, "/_emulator/outage", {"region": EAST, "service": "cloudwatch"}) == 200
    no_retry = client(config=NO_RETRY)
    code, status_code, _ = error_of(lambda: put_rule(no_retry, "during-outage"))
    assert status_code >= 500
    put_rule(client(WEST, config=NO_RETRY), "elsewhere")  # another region is up
    control(endpoint, "/_emulator/outage", method="DELETE")
    assert [(c["operation"], c["outcome"], c["client"]) for c in calls(endpoint)] == [
        ("PutAlarmMuteRule", "outage", "other"),
        ("PutAlarmMuteRule", "served", "other"),
    ]
    assert error_of(lambda: no_retry.get_alarm_mute_rule(AlarmMuteRuleName="during-outage"))[0] == "ResourceNotFoundException"


def test_aws_json_clients_are_answered_too(endpoint, cw):
    """botocore picks awsJson for CloudWatch unless told otherwise; the layer answers it as well."""
    plain = boto3.client("cloudwatch", region_name=EAST, endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
    assert plain.meta.service_model.resolved_protocol == "json"
    put_rule(plain, "json-rule", expression="at(2099-01-01T00:00)", StartDate=dt.datetime(2098, 1, 1, 0, 0, 59, tzinfo=UTC))
    rule = cw.get_alarm_mute_rule(AlarmMuteRuleName="json-rule")
    assert rule["StartDate"] == dt.datetime(2098, 1, 1, tzinfo=UTC)
    assert plain.get_alarm_mute_rule(AlarmMuteRuleName="json-rule")["StartDate"] == rule["StartDate"]
    assert error_of(lambda: plain.get_alarm_mute_rule(AlarmMuteRuleName="nope"))[:2] == ("ResourceNotFoundException", 404)


def raw(endpoint: str, operation: str, params: dict, region: str = EAST) -> tuple[int, dict, bytes]:
    """A hand-made rpcv2-cbor request: the layer needs the smithy-protocol header and a SigV4 credential scope."""
    request = urllib.request.Request(
        f"{endpoint}/service/GraniteServiceVersion20100801/operation/{operation}",
        data=cbor2.dumps(params),
        method="POST",
        headers={
            "smithy-protocol": "rpc-v2-cbor",
            "Content-Type": "application/cbor",
            "Accept": "application/cbor",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20261129/{region}/monitoring/aws4_request, SignedHeaders=host, Signature=00",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_wire_format_by_hand(endpoint, cw):
    start = dt.datetime(2026, 12, 24, 18, 30, 42, tzinfo=UTC)
    params = {
        "Name": "raw",
        "Rule": {"Schedule": {"Expression": "cron(0 22 * * *)", "Duration": "PT6H", "Timezone": "America/New_York"}},
        "StartDate": cbor2.CBORTag(1, start.timestamp()),  # a timestamp as rpcv2-cbor sends it: tag 1, epoch seconds
    }
    status_code, headers, body = raw(endpoint, "PutAlarmMuteRule", params)
    assert status_code == 200 and headers["smithy-protocol"] == "rpc-v2-cbor" and headers["Content-Type"] == "application/cbor"

    status_code, headers, body = raw(endpoint, "GetAlarmMuteRule", {"AlarmMuteRuleName": "raw"})
    assert status_code == 200 and headers["smithy-protocol"] == "rpc-v2-cbor"
    truncated = dt.datetime(2026, 12, 24, 18, 30, tzinfo=UTC)
    # Tag 1 (0xc1) over a float64 (0xfb) of the epoch seconds, truncated to the minute.
    assert b"\xc1\xfb" + struct.pack(">d", truncated.timestamp()) in body
    reply = cbor2.loads(body)
    assert reply["StartDate"] == truncated and reply["Name"] == "raw" and reply["MuteType"] == "RECURRING"
    assert isinstance(reply["LastUpdatedTimestamp"], dt.datetime)

    status_code, headers, body = raw(endpoint, "GetAlarmMuteRule", {"AlarmMuteRuleName": "missing"})
    assert status_code == 404 and headers["x-amzn-query-error"] == "ResourceNotFoundException;Sender"
    assert cbor2.loads(body)["__type"] == "ResourceNotFoundException"
    status_code, headers, body = raw(endpoint, "PutAlarmMuteRule", {"Name": "no-rule"})
    assert status_code == 400 and headers["x-amzn-query-error"] == "ValidationError;Sender"
    error = cbor2.loads(body)
    assert error["__type"] == "ValidationException" and "'rule'" in error["message"]  # the model's shape, query code ValidationError
    status_code, _, _ = raw(endpoint, "GetAlarmMuteRule", {"AlarmMuteRuleName": "raw"}, region=WEST)
    assert status_code == 404
    operations = [c["operation"] for c in calls(endpoint)]
    assert operations == ["PutAlarmMuteRule", "GetAlarmMuteRule", "GetAlarmMuteRule", "PutAlarmMuteRule", "GetAlarmMuteRule"]
