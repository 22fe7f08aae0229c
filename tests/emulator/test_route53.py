"""Tests of the Route 53 layer and of alarm evaluation from PutMetricData, through boto3 (and, where the wire shape
matters, requests shaped as aws-sdk-route53 sends them)."""

from __future__ import annotations

import datetime
import re
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import boto3
import botocore.exceptions
import botocore.model
import pytest

from emulator_test_support import CBOR_FIRST, NO_RETRY, calls, control

NS = "{https://route53.amazonaws.com/doc/2013-04-01/}"
# What a SigV4 header says to the emulator (it checks no signature): the credential scope names service and region.
AUTH = "AWS4-HMAC-SHA256 Credential=testing/20261129/us-east-1/route53/aws4_request, SignedHeaders=host, Signature=0"


@pytest.fixture()
def aws(endpoint, monkeypatch):
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    session = dict(endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
    with monkeypatch.context() as patch:
        patch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", CBOR_FIRST)
        cloudwatch = {r: boto3.client("cloudwatch", region_name=r, **session) for r in ("us-east-1", "us-west-2")}
    return SimpleNamespace(
        endpoint=endpoint,
        route53=boto3.client("route53", region_name="us-east-1", **session),
        strict=boto3.client("route53", region_name="us-east-1", config=NO_RETRY, **session),
        cloudwatch=cloudwatch["us-east-1"],
        cloudwatch_west=cloudwatch["us-west-2"],
    )


def error_of(raised) -> tuple[str, int]:
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def put_alarm(client, name: str, **extra) -> None:
    lever = dict(
        Namespace="Dialtone/Failover",
        MetricName="PrimaryActive",
        Dimensions=[{"Name": "Plan", "Value": "cc"}],
        Statistic="Minimum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="LessThanThreshold",
    )
    client.put_metric_alarm(AlarmName=name, **{**lever, **extra})


def metric_check(aws, reference: str, alarm: str = "lever", region: str = "us-east-1", **config) -> dict:
    return aws.route53.create_health_check(
        CallerReference=reference,
        HealthCheckConfig={"Type": "CLOUDWATCH_METRIC", "AlarmIdentifier": {"Region": region, "Name": alarm}, **config},
    )["HealthCheck"]


def endpoint_check(aws, reference: str, **config) -> dict:
    config = {"Type": "HTTPS", "FullyQualifiedDomainName": "primary.example.net", "ResourcePath": "/health", **config}
    return aws.route53.create_health_check(CallerReference=reference, HealthCheckConfig=config)["HealthCheck"]


def status_of(aws, check_id: str) -> str:
    observations = aws.route53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
    assert len({o["StatusReport"]["Status"] for o in observations}) == 1
    return observations[0]["StatusReport"]["Status"].split(":")[0]


def new_zone(aws, name: str = "example.com") -> str:
    return aws.route53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"]


def failover_pair(name: str, check_id: str | None, action: str = "CREATE", primary: str = "a.example.net") -> list[dict]:
    first = {"Name": name, "Type": "CNAME", "SetIdentifier": "primary", "Failover": "PRIMARY", "TTL": 60, "ResourceRecords": [{"Value": primary}]}
    if check_id:
        first["HealthCheckId"] = check_id
    second = {"Name": name, "Type": "CNAME", "SetIdentifier": "secondary", "Failover": "SECONDARY", "TTL": 60, "ResourceRecords": [{"Value": "b.example.net"}]}
    return [{"Action": action, "ResourceRecordSet": first}, {"Action": action, "ResourceRecordSet": second}]


def records(aws, zone: str, name: str | None = None) -> list[dict]:
    found = aws.route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return [r for r in found if name is None or r["Name"] == name]


# ---- hosted zones ----


def test_hosted_zone_ids_start_with_z_everywhere(aws):
    ids = [new_zone(aws, f"z{i}.example.com") for i in range(5)]
    assert all(re.fullmatch(r"/hostedzone/Z[A-Z0-9]{20}", i) for i in ids), ids
    assert sorted(z["Id"] for z in aws.route53.list_hosted_zones()["HostedZones"]) == sorted(ids)
    assert aws.route53.get_hosted_zone(Id=ids[0])["HostedZone"]["Id"] == ids[0]
    soa = [r for r in records(aws, ids[0]) if r["Type"] == "SOA"][0]
    assert not soa["ResourceRecords"][0]["Value"].startswith("{")  # moto's nested {"Value": ...} is unwrapped


# ---- record sets ----


def test_failover_pairs_round_trip_and_delete_only_their_own_set(aws):
    zone = new_zone(aws)
    check = endpoint_check(aws, "chat")["Id"]
    changes = failover_pair("chat.example.com", check) + failover_pair("voice.example.com", None)
    aws.route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    chat = records(aws, zone, "chat.example.com.")
    assert chat == [
        {**changes[0]["ResourceRecordSet"], "Name": "chat.example.com."},
        {**changes[1]["ResourceRecordSet"], "Name": "chat.example.com."},
    ]
    # Deleting voice's PRIMARY leaves chat's PRIMARY (same SetIdentifier, other name): moto removed both.
    aws.route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{**changes[2], "Action": "DELETE"}]})
    assert [r["SetIdentifier"] for r in records(aws, zone, "voice.example.com.")] == ["secondary"]
    assert len(records(aws, zone, "chat.example.com.")) == 2
    # A record set outlives its health check (Route 53 does not refuse the delete) and can still be deleted.
    aws.route53.delete_health_check(HealthCheckId=check)
    aws.route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{**changes[0], "Action": "DELETE"}]})
    check = endpoint_check(aws, "chat-2")["Id"]
    # UPSERT replaces the set in place; names are stored lower case with a trailing dot, * as \052.
    aws.route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": failover_pair("Chat.Example.com", check, "UPSERT", "c.example.net")})
    chat = records(aws, zone, "chat.example.com.")
    assert [r["ResourceRecords"] for r in chat] == [[{"Value": "c.example.net"}], [{"Value": "b.example.net"}]]
    wildcard = {"Name": "*.example.com", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.1"}]}
    aws.route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": wildcard}]})
    assert records(aws, zone, "\\052.example.com.")[0]["ResourceRecords"] == [{"Value": "192.0.2.1"}]


def test_change_as_the_rust_sdk_sends_it(aws):
    zone = new_zone(aws).split("/")[-1]
    check = endpoint_check(aws, "rust")["Id"]
    # aws-sdk-route53: no XML declaration, the namespace on the root, members in model order, no trailing slash.
    body = (
        '<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch>'
        "<Comment>dialtone failover</Comment><Changes><Change><Action>UPSERT</Action><ResourceRecordSet>"
        "<Name>chat.example.com</Name><Type>A</Type><SetIdentifier>primary</SetIdentifier><Failover>PRIMARY</Failover>"
        f"<TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.10</Value></ResourceRecord></ResourceRecords>"
        f"<HealthCheckId>{check}</HealthCheckId></ResourceRecordSet></Change></Changes></ChangeBatch>"
        "</ChangeResourceRecordSetsRequest>"
    ).encode()
    request = urllib.request.Request(
        f"{aws.endpoint}/2013-04-01/hostedzone/{zone}/rrset", data=body, method="POST", headers={"Authorization": AUTH, "Content-Type": "text/xml"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        root = ET.fromstring(reply.read())
    assert root.tag == f"{NS}ChangeResourceRecordSetsResponse"
    assert root.find(f"{NS}ChangeInfo/{NS}Status").text == "PENDING"
    assert root.find(f"{NS}ChangeInfo/{NS}Comment").text == "dialtone failover"
    assert re.fullmatch(r"/change/C[A-Z0-9]+", root.find(f"{NS}ChangeInfo/{NS}Id").text)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", root.find(f"{NS}ChangeInfo/{NS}SubmittedAt").text)
    [primary] = records(aws, zone, "chat.example.com.")
    assert primary["Failover"] == "PRIMARY" and primary["HealthCheckId"] == check and primary["TTL"] == 60
    assert ("route53", "ChangeResourceRecordSets") in [(c["service"], c["operation"]) for c in calls(aws.endpoint)]


def test_an_invalid_change_batch_applies_nothing(aws):
    zone = new_zone(aws)
    existing = {"Name": "a.example.com", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.1"}]}
    fresh = {**existing, "Name": "b.example.com"}
    aws.route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": existing}]})
    before = records(aws, zone)

    def rejected(changes: list[dict]) -> tuple[str, int, str]:
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            aws.strict.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
        assert records(aws, zone) == before, "a rejected batch must change nothing"
        return (*error_of(raised), raised.value.response["Error"]["Message"])

    code, status, message = rejected([{"Action": "CREATE", "ResourceRecordSet": fresh}, {"Action": "CREATE", "ResourceRecordSet": existing}])
    assert (code, status) == ("InvalidChangeBatch", 400) and "but it already exists" in message
    code, _, message = rejected([{"Action": "CREATE", "ResourceRecordSet": fresh}, {"Action": "DELETE", "ResourceRecordSet": {**existing, "Name": "c.example.com"}}])
    assert code == "InvalidChangeBatch" and "but it was not found" in message
    code, _, message = rejected([{"Action": "DELETE", "ResourceRecordSet": {**existing, "TTL": 300}}])
    assert code == "InvalidChangeBatch" and "do not match the current values" in message
    code, _, message = rejected([{"Action": "DELETE", "ResourceRecordSet": existing}] * 2)
    assert code == "InvalidChangeBatch" and "not found" in message  # the same record set deleted twice
    code, _, message = rejected([{"Action": "CREATE", "ResourceRecordSet": {**existing, "Name": "a.example.org"}}])
    assert code == "InvalidChangeBatch" and "not permitted in zone" in message
    many = [{"Value": f"192.0.2.{i % 250}"} for i in range(501)]
    assert rejected([{"Action": "UPSERT", "ResourceRecordSet": {**fresh, "ResourceRecords": many}}])[0] == "InvalidChangeBatch"  # 1,002
    assert rejected([{"Action": "CREATE", "ResourceRecordSet": {**fresh, "HealthCheckId": "nope"}}])[:2] == ("NoSuchHealthCheck", 404)
    assert rejected([{"Action": "CREATE", "ResourceRecordSet": {**fresh, "Failover": "PRIMARY"}}])[:2] == ("InvalidInput", 400)
    assert rejected([{"Action": "CREATE", "ResourceRecordSet": {**fresh, "Type": "CNAME", "Name": "a.example.com"}}])[0] == "InvalidChangeBatch"
    # A DELETE and a CREATE of the same record set in one batch replace it as one change.
    replaced = {**existing, "TTL": 30}
    aws.route53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": existing}, {"Action": "CREATE", "ResourceRecordSet": replaced}]}
    )
    assert records(aws, zone, "a.example.com.")[0]["TTL"] == 30


def test_get_change_is_pending_then_insync_and_blocks_the_zone_meanwhile(aws):
    zone, other = new_zone(aws), new_zone(aws, "example.org")
    change = aws.route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": failover_pair("x.example.com", None)})
    assert change["ChangeInfo"]["Status"] == "PENDING"  # every change starts PENDING; with no delay it is INSYNC at once
    assert aws.route53.get_change(Id=change["ChangeInfo"]["Id"])["ChangeInfo"]["Status"] == "INSYNC"

    assert control(aws.endpoint, "/_emulator/route53/settings", {"changeSeconds": -1}) == 400
    assert control(aws.endpoint, "/_emulator/route53/settings", {"changeSeconds": 1.5}) == 200
    change = aws.route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": failover_pair("y.example.com", None)})
    info = aws.route53.get_change(Id=change["ChangeInfo"]["Id"])["ChangeInfo"]
    assert info["Status"] == "PENDING" and info["Id"] == change["ChangeInfo"]["Id"]
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        aws.strict.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": failover_pair("z.example.com", None)})
    assert error_of(raised) == ("PriorRequestNotComplete", 400)
    assert records(aws, zone, "z.example.com.") == []
    aws.route53.change_resource_record_sets(HostedZoneId=other, ChangeBatch={"Changes": failover_pair("z.example.org", None)})  # other zones are free
    deadline = time.monotonic() + 5
    while aws.route53.get_change(Id=change["ChangeInfo"]["Id"])["ChangeInfo"]["Status"] == "PENDING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    aws.strict.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": failover_pair("z.example.com", None)})
    assert len(records(aws, zone, "z.example.com.")) == 2


# ---- health checks ----


def test_cloudwatch_metric_check_keeps_its_alarm_and_caller_reference(aws):
    put_alarm(aws.cloudwatch_west, "lever")
    check = metric_check(aws, "ref-1", region="us-west-2", InsufficientDataHealthStatus="Unhealthy")
    config = check["HealthCheckConfig"]
    assert config["AlarmIdentifier"] == {"Region": "us-west-2", "Name": "lever"}
    assert config["InsufficientDataHealthStatus"] == "Unhealthy"
    assert "Port" not in config and "IPAddress" not in config
    assert check["HealthCheckVersion"] == 1
    assert check["CloudWatchAlarmConfiguration"] == {
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "LessThanThreshold",
        "Period": 60,
        "MetricName": "PrimaryActive",
        "Namespace": "Dialtone/Failover",
        "Statistic": "Minimum",
        "Dimensions": [{"Name": "Plan", "Value": "cc"}],
    }
    assert aws.route53.get_health_check(HealthCheckId=check["Id"])["HealthCheck"] == check
    assert aws.route53.list_health_checks()["HealthChecks"] == [check]
    assert aws.route53.get_health_check_count()["HealthCheckCount"] == 1
    # CallerReference: the same request again answers the same check; other settings are a conflict.
    assert metric_check(aws, "ref-1", region="us-west-2", InsufficientDataHealthStatus="Unhealthy")["Id"] == check["Id"]
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        metric_check(aws, "ref-1", region="us-west-2", InsufficientDataHealthStatus="Healthy")
    assert error_of(raised) == ("HealthCheckAlreadyExists", 409)
    # Updates raise HealthCheckVersion; a stale version is refused.
    updated = aws.route53.update_health_check(HealthCheckId=check["Id"], HealthCheckVersion=1, InsufficientDataHealthStatus="LastKnownStatus")
    assert updated["HealthCheck"]["HealthCheckVersion"] == 2
    assert updated["HealthCheck"]["HealthCheckConfig"]["InsufficientDataHealthStatus"] == "LastKnownStatus"
    assert updated["HealthCheck"]["HealthCheckConfig"]["AlarmIdentifier"] == {"Region": "us-west-2", "Name": "lever"}
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        aws.route53.update_health_check(HealthCheckId=check["Id"], HealthCheckVersion=1, Inverted=True)
    assert error_of(raised) == ("HealthCheckVersionMismatch", 409)
    aws.route53.delete_health_check(HealthCheckId=check["Id"])
    for call in (aws.route53.get_health_check, aws.route53.delete_health_check, aws.route53.get_health_check_status):
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            call(HealthCheckId=check["Id"])
        assert error_of(raised) == ("NoSuchHealthCheck", 404)
    with pytest.raises(botocore.exceptions.ClientError) as raised:  # a deleted check's reference stays taken
        metric_check(aws, "ref-1", region="us-west-2", InsufficientDataHealthStatus="Unhealthy")
    assert error_of(raised) == ("HealthCheckAlreadyExists", 409)


def test_health_check_configs_are_validated_per_type(aws):
    put_alarm(aws.cloudwatch, "lever")
    bad = [
        {"Type": "CLOUDWATCH_METRIC"},
        {"Type": "CLOUDWATCH_METRIC", "AlarmIdentifier": {"Region": "us-east-1", "Name": "missing"}},
        {"Type": "CLOUDWATCH_METRIC", "AlarmIdentifier": {"Region": "us-east-1", "Name": "lever"}, "Port": 80},
        {"Type": "CALCULATED", "ChildHealthChecks": []},
        {"Type": "CALCULATED", "HealthThreshold": 1},
        {"Type": "CALCULATED", "ChildHealthChecks": ["nope"], "HealthThreshold": 1},
        {"Type": "HTTP"},
        {"Type": "TCP", "Port": 443},
        {"Type": "HTTP_STR_MATCH", "IPAddress": "192.0.2.1"},
        {"Type": "HTTP", "IPAddress": "not-an-address"},
    ]
    for i, config in enumerate(bad):
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            aws.route53.create_health_check(CallerReference=f"bad-{i}", HealthCheckConfig=config)
        assert error_of(raised) == ("InvalidInput", 400), config
    assert aws.route53.list_health_checks()["HealthChecks"] == []
    check = endpoint_check(aws, "defaults")["HealthCheckConfig"]
    assert (check["Port"], check["RequestInterval"], check["FailureThreshold"], check["EnableSNI"]) == (443, 30, 3, True)


def test_calculated_check_keeps_children_and_follows_its_threshold(aws):
    first, second = endpoint_check(aws, "a")["Id"], endpoint_check(aws, "b", Type="HTTP", IPAddress="192.0.2.7")["Id"]
    calculated = aws.route53.create_health_check(
        CallerReference="calc", HealthCheckConfig={"Type": "CALCULATED", "ChildHealthChecks": [first, second], "HealthThreshold": 2}
    )["HealthCheck"]
    config = aws.route53.get_health_check(HealthCheckId=calculated["Id"])["HealthCheck"]["HealthCheckConfig"]
    assert config["ChildHealthChecks"] == [first, second] and config["HealthThreshold"] == 2
    assert status_of(aws, calculated["Id"]) == "Success"
    assert control(aws.endpoint, "/_emulator/route53/health", {"id": first, "healthy": False}) == 200
    assert status_of(aws, first) == "Failure"
    assert status_of(aws, calculated["Id"]) == "Failure"
    aws.route53.update_health_check(HealthCheckId=calculated["Id"], HealthThreshold=1)
    assert status_of(aws, calculated["Id"]) == "Success"
    control(aws.endpoint, "/_emulator/route53/health", {"id": second, "healthy": False})
    assert status_of(aws, calculated["Id"]) == "Failure"
    control(aws.endpoint, "/_emulator/route53/health", {"id": first, "healthy": True})
    assert status_of(aws, calculated["Id"]) == "Success"
    assert control(aws.endpoint, "/_emulator/route53/health", {"id": "nope", "healthy": False}) == 404
    assert control(aws.endpoint, "/_emulator/route53/health", {"id": calculated["Id"], "healthy": False}) == 400
    assert control(aws.endpoint, "/_emulator/route53/health", {"id": first}) == 400


def test_metric_check_status_follows_the_alarm(aws):
    put_alarm(aws.cloudwatch, "lever")
    checks = {mode: metric_check(aws, mode, InsufficientDataHealthStatus=mode)["Id"] for mode in ("Healthy", "Unhealthy", "LastKnownStatus")}
    observations = aws.route53.get_health_check_status(HealthCheckId=checks["Healthy"])["HealthCheckObservations"]
    assert len(observations) == 8 and all(o["IPAddress"] and o["Region"] for o in observations)
    assert isinstance(observations[0]["StatusReport"]["CheckedTime"], datetime.datetime)
    assert {m: status_of(aws, c) for m, c in checks.items()} == {"Healthy": "Success", "Unhealthy": "Success", "LastKnownStatus": "Success"}
    aws.cloudwatch.set_alarm_state(AlarmName="lever", StateValue="ALARM", StateReason="failover drill")
    assert {m: status_of(aws, c) for m, c in checks.items()} == {"Healthy": "Failure", "Unhealthy": "Failure", "LastKnownStatus": "Failure"}
    aws.cloudwatch.set_alarm_state(AlarmName="lever", StateValue="INSUFFICIENT_DATA", StateReason="no data")
    assert {m: status_of(aws, c) for m, c in checks.items()} == {"Healthy": "Success", "Unhealthy": "Failure", "LastKnownStatus": "Failure"}
    aws.cloudwatch.set_alarm_state(AlarmName="lever", StateValue="OK", StateReason="back")
    aws.cloudwatch.set_alarm_state(AlarmName="lever", StateValue="INSUFFICIENT_DATA", StateReason="no data")
    assert status_of(aws, checks["LastKnownStatus"]) == "Success"
    # Disabled: always healthy; Inverted flips (disabled and inverted is the documented way to force a failover).
    aws.route53.update_health_check(HealthCheckId=checks["Unhealthy"], Disabled=True)
    assert status_of(aws, checks["Unhealthy"]) == "Success"
    aws.route53.update_health_check(HealthCheckId=checks["Unhealthy"], Inverted=True)
    assert status_of(aws, checks["Unhealthy"]) == "Failure"


def test_health_check_tags_round_trip(aws):
    first, second = endpoint_check(aws, "a")["Id"], endpoint_check(aws, "b")["Id"]
    aws.route53.change_tags_for_resource(
        ResourceType="healthcheck", ResourceId=first, AddTags=[{"Key": "dialtone.io/plan", "Value": "cc"}, {"Key": "Name", "Value": "chat"}]
    )
    aws.route53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=first, RemoveTagKeys=["Name"])
    tag_set = aws.route53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=first)["ResourceTagSet"]
    assert tag_set == {"ResourceType": "healthcheck", "ResourceId": first, "Tags": [{"Key": "dialtone.io/plan", "Value": "cc"}]}
    sets = aws.route53.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=[first, second])["ResourceTagSets"]
    assert [(s["ResourceId"], s.get("Tags")) for s in sets] == [(first, [{"Key": "dialtone.io/plan", "Value": "cc"}]), (second, [])]
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        aws.route53.list_tags_for_resource(ResourceType="healthcheck", ResourceId="nope")
    assert error_of(raised) == ("NoSuchHealthCheck", 404)
    zone = new_zone(aws).split("/")[-1]  # hosted zone tags stay moto's
    aws.route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone, AddTags=[{"Key": "k", "Value": "v"}])
    assert aws.route53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone)["ResourceTagSet"]["Tags"] == [{"Key": "k", "Value": "v"}]


# ---- faults ----


def test_throttling_is_route53_xml_recorded_and_retried(aws):
    zone = new_zone(aws)
    fault = {"service": "route53", "operation": "ChangeResourceRecordSets", "every": 1, "count": 1}
    control(aws.endpoint, "/_emulator/faults", fault)
    request = urllib.request.Request(
        f"{aws.endpoint}/2013-04-01/hostedzone/{zone.split('/')[-1]}/rrset", data=b"<x/>", method="POST", headers={"Authorization": AUTH}
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    root = ET.fromstring(raised.value.read())
    assert raised.value.code == 400 and root.tag == "ErrorResponse"
    assert (root.find("Error/Type").text, root.find("Error/Code").text) == ("Sender", "Throttling")
    control(aws.endpoint, "/_emulator/faults", fault)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        aws.strict.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": failover_pair("t.example.com", None)})
    assert error_of(raised) == ("Throttling", 400)
    control(aws.endpoint, "/_emulator/faults", fault)
    aws.route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": failover_pair("t.example.com", None)})  # retried
    outcomes = [c["outcome"] for c in calls(aws.endpoint) if c["operation"] == "ChangeResourceRecordSets"]
    assert outcomes == ["throttled", "throttled", "throttled", "served"]


def test_an_outage_of_us_east_1_fails_route53_from_anywhere(aws):
    session = dict(endpoint_url=aws.endpoint, aws_access_key_id="testing", aws_secret_access_key="testing", config=NO_RETRY)
    route53 = boto3.client("route53", region_name="eu-west-2", **session)  # signs for eu-west-2; served by us-east-1
    check = endpoint_check(aws, "a")["Id"]
    assert control(aws.endpoint, "/_emulator/outage", {"region": "us-east-1", "service": "route53"}) == 200
    for call in (lambda: route53.get_health_check_status(HealthCheckId=check), lambda: route53.list_hosted_zones()):
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            call()
        assert error_of(raised) == ("InternalFailure", 500)
    assert [c["outcome"] for c in calls(aws.endpoint)][-2:] == ["outage", "outage"]
    control(aws.endpoint, "/_emulator/outage", None, method="DELETE")
    assert status_of(aws, check) == "Success"


def test_every_answered_operation_is_recorded_by_its_model_name(aws):
    put_alarm(aws.cloudwatch, "lever")
    check = metric_check(aws, "r")["Id"]
    aws.route53.get_health_check(HealthCheckId=check)
    aws.route53.update_health_check(HealthCheckId=check, Inverted=False)
    aws.route53.get_health_check_status(HealthCheckId=check)
    aws.route53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check, AddTags=[{"Key": "k", "Value": "v"}])
    aws.route53.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=[check])
    zone = new_zone(aws)
    change = aws.route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": failover_pair("x.example.com", check)})
    aws.route53.get_change(Id=change["ChangeInfo"]["Id"])
    aws.route53.list_health_checks()
    aws.route53.delete_health_check(HealthCheckId=check)
    assert [c["operation"] for c in calls(aws.endpoint) if c["service"] == "route53"] == [
        "CreateHealthCheck",
        "GetHealthCheck",
        "UpdateHealthCheck",
        "GetHealthCheckStatus",
        "ChangeTagsForResource",
        "ListTagsForResources",
        "CreateHostedZone",
        "ChangeResourceRecordSets",
        "GetChange",
        "ListHealthChecks",
        "DeleteHealthCheck",
    ]


# ---- alarm evaluation from PutMetricData ----


def test_put_metric_data_moves_the_lever_alarm_and_its_health_check(aws):
    put_alarm(aws.cloudwatch, "lever")
    put_alarm(aws.cloudwatch, "other-plan", Dimensions=[{"Name": "Plan", "Value": "other"}])
    check = metric_check(aws, "lever")["Id"]
    state = lambda name: aws.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]  # noqa: E731
    metric = {"MetricName": "PrimaryActive", "Dimensions": [{"Name": "Plan", "Value": "cc"}]}

    aws.cloudwatch.put_metric_data(Namespace="Dialtone/Failover", MetricData=[{**metric, "Value": 0.0}])
    assert state("lever") == "ALARM" and state("other-plan") == "OK"  # dimensions must match exactly
    assert status_of(aws, check) == "Failure"
    # The 0 is still in the current 60 s period: a 1 counts once a later period has come (a future timestamp here).
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=61)
    aws.cloudwatch.put_metric_data(Namespace="Dialtone/Failover", MetricData=[{**metric, "Value": 1.0, "Timestamp": later}])
    assert state("lever") == "OK"
    assert status_of(aws, check) == "Success"
    reason = aws.cloudwatch.describe_alarms(AlarmNames=["lever"])["MetricAlarms"][0]["StateReason"]
    assert reason.startswith("Threshold Crossed: 0 out of the last 1 datapoints [1]")


def test_alarm_evaluation_counts_datapoints_to_alarm_and_forgets_on_reset(aws):
    put_alarm(aws.cloudwatch, "queue", Statistic="Average", EvaluationPeriods=3, DatapointsToAlarm=2, Threshold=10.0, ComparisonOperator="GreaterThanThreshold")
    now = datetime.datetime.now(datetime.timezone.utc)
    datum = {"MetricName": "PrimaryActive", "Dimensions": [{"Name": "Plan", "Value": "cc"}]}
    state = lambda: aws.cloudwatch.describe_alarms(AlarmNames=["queue"])["MetricAlarms"][0]["StateValue"]  # noqa: E731
    aws.cloudwatch.put_metric_data(Namespace="Dialtone/Failover", MetricData=[{**datum, "Values": [30.0, 0.0], "Counts": [1.0, 1.0], "Timestamp": now - datetime.timedelta(seconds=150)}])
    assert state() == "OK"  # one breaching period (average 15) of the two needed
    aws.cloudwatch.put_metric_data(Namespace="Dialtone/Failover", MetricData=[{**datum, "StatisticValues": {"SampleCount": 2, "Sum": 40, "Minimum": 10, "Maximum": 30}}])
    assert state() == "ALARM"  # two of the three periods breach
    urllib.request.urlopen(urllib.request.Request(f"{aws.endpoint}/moto-api/reset", method="POST"), timeout=10)
    put_alarm(aws.cloudwatch, "queue", Statistic="Average", EvaluationPeriods=3, DatapointsToAlarm=2, Threshold=10.0, ComparisonOperator="GreaterThanThreshold")
    aws.cloudwatch.put_metric_data(Namespace="Dialtone/Failover", MetricData=[{**datum, "Value": 11.0}])
    assert state() == "OK"  # the earlier datapoints are gone
