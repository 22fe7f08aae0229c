"""Tests of the Connect Global Resiliency layer, the outage controls and Connect's restJson1 errors, through boto3."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from types import SimpleNamespace
from urllib.parse import quote

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.model
import pytest

from emulator_test_support import CBOR_FIRST, EAST, NO_RETRY, WEST, calls, control


@pytest.fixture()
def clients(endpoint):
    control(endpoint, "/moto-api/reset")

    def client(service: str, region: str, **extra):
        return boto3.client(
            service, region_name=region, endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing", **extra
        )

    return client


@pytest.fixture()
def gr(endpoint, clients):
    """An instance in us-east-1 replicated to us-west-2, with clients of both regions and its default group."""
    east, west = clients("connect", EAST), clients("connect", WEST)
    created = east.create_instance(
        IdentityManagementType="CONNECT_MANAGED", InstanceAlias="acme", InboundCallsEnabled=True, OutboundCallsEnabled=True
    )
    replica = east.replicate_instance(InstanceId=created["Id"], ReplicaRegion=WEST, ReplicaAlias="acme-west")
    groups = east.list_traffic_distribution_groups(InstanceId=created["Id"])["TrafficDistributionGroupSummaryList"]
    return SimpleNamespace(east=east, west=west, id=created["Id"], arn=created["Arn"], replica=replica, group=groups[0])


def signed(endpoint: str, region: str, method: str, path: str, body: bytes = b"") -> tuple[int, dict, bytes]:
    """A raw SigV4-signed Connect request, to look at the wire (and encode paths as the Rust SDK does)."""
    request = botocore.awsrequest.AWSRequest(method=method, url=f"{endpoint}{path}", data=body)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("testing", "testing"), "connect", region).add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(prepared.url, data=body or None, method=method, headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(raw, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def split(region_a: int, region_b: int) -> dict:
    return {"Distributions": [{"Region": EAST, "Percentage": region_a}, {"Region": WEST, "Percentage": region_b}]}


def error_of(call, *args, **kwargs) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call(*args, **kwargs)
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_replicate_instance_describes_replication_in_both_regions(gr):
    assert gr.replica["Id"] == gr.id
    assert gr.replica["Arn"] == f"arn:aws:connect:{WEST}:123456789012:instance/{gr.id}"
    for client, arn, alias in ((gr.east, gr.arn, "acme"), (gr.west, gr.replica["Arn"], "acme-west")):
        described = client.describe_instance(InstanceId=gr.id)
        assert described["Instance"]["Id"] == gr.id and described["Instance"]["Arn"] == arn
        assert described["Instance"]["InstanceAlias"] == alias and described["Instance"]["InstanceStatus"] == "ACTIVE"
        replication = described["ReplicationConfiguration"]
        assert replication["SourceRegion"] == EAST and replication["GlobalSignInEndpoint"]
        assert {(s["Region"], s["ReplicationStatus"]) for s in replication["ReplicationStatusSummaryList"]} == {
            (EAST, "INSTANCE_REPLICATION_COMPLETE"),
            (WEST, "INSTANCE_REPLICATION_COMPLETE"),
        }
    # moto knows the replica too: it is listed in its region.
    assert [i["Id"] for i in gr.west.list_instances()["InstanceSummaryList"]] == [gr.id]


def test_describe_instance_without_replication_and_unknown(gr, clients):
    other = gr.east.create_instance(IdentityManagementType="CONNECT_MANAGED", InstanceAlias="solo", InboundCallsEnabled=True, OutboundCallsEnabled=False)
    described = gr.east.describe_instance(InstanceId=other["Id"])
    assert "ReplicationConfiguration" not in described and described["Instance"]["OutboundCallsEnabled"] is False
    assert error_of(gr.west.describe_instance, InstanceId=other["Id"]) == ("ResourceNotFoundException", 404)


def test_created_time_is_epoch_seconds_on_the_wire(endpoint, gr):
    for path in (f"/instance/{gr.id}", "/instance"):
        status, _, body = signed(endpoint, EAST, "GET", path)
        assert status == 200
        reply = json.loads(body)
        instance = reply["Instance"] if "Instance" in reply else reply["InstanceSummaryList"][0]
        assert isinstance(instance["CreatedTime"], (int, float)) and instance["CreatedTime"] > 1.7e9
        assert "ReplicationConfiguration" not in reply.get("Instance", {}), "beside Instance, not inside it"


def test_default_group_listed_active_and_readable_by_arn_from_both_regions(gr):
    group = gr.group
    assert group["IsDefault"] is True and group["Status"] == "ACTIVE"
    assert group["Arn"] == f"arn:aws:connect:{EAST}:123456789012:traffic-distribution-group/{group['Id']}"
    for client in (gr.east, gr.west):
        described = client.describe_traffic_distribution_group(TrafficDistributionGroupId=group["Arn"])["TrafficDistributionGroup"]
        assert (described["Id"], described["IsDefault"], described["Status"], described["InstanceArn"]) == (group["Id"], True, "ACTIVE", gr.arn)
        distribution = client.get_traffic_distribution(Id=group["Arn"])
        assert distribution["TelephonyConfig"] == split(100, 0)
        assert distribution["AgentConfig"] == split(100, 0)
        assert distribution["SignInConfig"] == {"Distributions": [{"Region": EAST, "Enabled": True}, {"Region": WEST, "Enabled": True}]}
    # By bare id only in the source region; groups are listed there only.
    assert gr.east.get_traffic_distribution(Id=group["Id"])["Arn"] == group["Arn"]
    assert error_of(gr.west.get_traffic_distribution, Id=group["Id"]) == ("ResourceNotFoundException", 404)
    assert gr.west.list_traffic_distribution_groups()["TrafficDistributionGroupSummaryList"] == []


def test_fully_percent_encoded_arn_is_decoded_and_recorded(endpoint, gr):
    # The Rust SDK encodes ':' as well as '/' in a URI label; botocore leaves ':' as is.
    status, _, body = signed(endpoint, WEST, "GET", f"/traffic-distribution-group/{quote(gr.group['Arn'], safe='')}")
    assert status == 200 and json.loads(body)["TrafficDistributionGroup"]["Id"] == gr.group["Id"]
    assert calls(endpoint)[-1] == {"service": "connect", "operation": "DescribeTrafficDistributionGroup", "outcome": "served", "client": "other", "region": WEST}


def test_update_from_the_replica_by_arn_then_in_progress_then_active(endpoint, gr):
    assert control(endpoint, "/_emulator/connect/settings", {"updateSeconds": 1}) == 200  # room for a loaded machine
    arn = gr.group["Arn"]
    gr.west.update_traffic_distribution(Id=arn, TelephonyConfig=split(0, 100), AgentConfig=split(0, 100))
    assert gr.east.describe_traffic_distribution_group(TrafficDistributionGroupId=arn)["TrafficDistributionGroup"]["Status"] == "UPDATE_IN_PROGRESS"
    distribution = gr.west.get_traffic_distribution(Id=arn)
    assert distribution["TelephonyConfig"] == split(0, 100) and distribution["AgentConfig"] == split(0, 100)
    with pytest.raises(gr.west.exceptions.ResourceConflictException) as raised:
        gr.west.update_traffic_distribution(Id=arn, TelephonyConfig=split(100, 0))
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    deadline = time.monotonic() + 5
    while gr.west.describe_traffic_distribution_group(TrafficDistributionGroupId=arn)["TrafficDistributionGroup"]["Status"] != "ACTIVE":
        assert time.monotonic() < deadline, "the group never became ACTIVE again"
        time.sleep(0.1)
    gr.west.update_traffic_distribution(Id=arn, SignInConfig={"Distributions": [{"Region": EAST, "Enabled": False}]})
    assert gr.east.get_traffic_distribution(Id=arn)["SignInConfig"]["Distributions"] == [
        {"Region": EAST, "Enabled": False},
        {"Region": WEST, "Enabled": True},
    ]
    operations = [c["operation"] for c in calls(endpoint) if c["operation"].endswith("TrafficDistribution")]
    assert operations == ["UpdateTrafficDistribution", "GetTrafficDistribution", "UpdateTrafficDistribution", "UpdateTrafficDistribution", "GetTrafficDistribution"]


def test_update_validation(endpoint, gr):
    control(endpoint, "/_emulator/connect/settings", {"updateSeconds": 0})
    arn, west = gr.group["Arn"], gr.west
    invalid = ("InvalidRequestException", 400)
    assert error_of(west.update_traffic_distribution, Id=arn, TelephonyConfig=split(45, 55)) == invalid
    assert error_of(west.update_traffic_distribution, Id=arn, TelephonyConfig=split(50, 40)) == invalid
    assert error_of(west.update_traffic_distribution, Id=arn, AgentConfig={"Distributions": [{"Region": WEST, "Percentage": 100}]}) == invalid
    two_wests = {"Distributions": [{"Region": WEST, "Percentage": 50}, {"Region": WEST, "Percentage": 50}]}
    assert error_of(west.update_traffic_distribution, Id=arn, TelephonyConfig=two_wests) == invalid
    assert error_of(west.update_traffic_distribution, Id=arn) == invalid
    assert gr.east.get_traffic_distribution(Id=arn)["TelephonyConfig"] == split(100, 0), "a refused update changes nothing"

    other = gr.east.create_traffic_distribution_group(Name="drill", InstanceId=gr.id, Description="for drills")
    sign_in = {"Distributions": [{"Region": EAST, "Enabled": True}]}
    assert error_of(west.update_traffic_distribution, Id=other["Arn"], SignInConfig=sign_in) == invalid
    west.update_traffic_distribution(Id=other["Arn"], TelephonyConfig=split(30, 70))  # updateSeconds 0: ACTIVE again at once
    west.update_traffic_distribution(Id=other["Arn"], AgentConfig=split(30, 70))
    assert "SignInConfig" not in west.get_traffic_distribution(Id=other["Arn"])

    assert control(endpoint, "/_emulator/connect/group", {"arn": arn, "status": "CREATION_FAILED"}) == 200
    assert error_of(west.update_traffic_distribution, Id=arn, TelephonyConfig=split(0, 100)) == invalid
    assert control(endpoint, "/_emulator/connect/group", {"arn": arn, "status": "UPDATE_IN_PROGRESS"}) == 200
    assert error_of(west.update_traffic_distribution, Id=arn, TelephonyConfig=split(0, 100)) == ("ResourceConflictException", 409)
    assert west.describe_traffic_distribution_group(TrafficDistributionGroupId=arn)["TrafficDistributionGroup"]["Status"] == "UPDATE_IN_PROGRESS"
    assert control(endpoint, "/_emulator/connect/group", {"arn": arn, "status": "BROKEN"}) == 400
    assert control(endpoint, "/_emulator/connect/group", {"arn": arn.replace(gr.group["Id"], "0" * 8 + gr.group["Id"][8:]), "status": "ACTIVE"}) == 404


def test_traffic_distribution_group_lifecycle(gr, clients):
    east = gr.east
    created = east.create_traffic_distribution_group(Name="drill", InstanceId=gr.arn, Description="for drills", Tags={"team": "cc"})
    described = east.describe_traffic_distribution_group(TrafficDistributionGroupId=created["Id"])["TrafficDistributionGroup"]
    assert described["Name"] == "drill" and described["Description"] == "for drills" and described["Tags"] == {"team": "cc"}
    assert described["IsDefault"] is False and described["Status"] == "ACTIVE"
    distribution = east.get_traffic_distribution(Id=created["Id"])
    assert distribution["TelephonyConfig"] == split(100, 0) and "SignInConfig" not in distribution

    first = east.list_traffic_distribution_groups(InstanceId=gr.id, MaxResults=1)
    assert len(first["TrafficDistributionGroupSummaryList"]) == 1 and first["NextToken"]
    second = east.list_traffic_distribution_groups(InstanceId=gr.id, MaxResults=1, NextToken=first["NextToken"])
    assert [g["Id"] for g in second["TrafficDistributionGroupSummaryList"]] == [created["Id"]] and "NextToken" not in second

    assert error_of(east.create_traffic_distribution_group, Name="drill", InstanceId=gr.id) == ("ResourceConflictException", 409)
    assert error_of(gr.west.create_traffic_distribution_group, Name="x", InstanceId=gr.id) == ("InvalidRequestException", 400)
    solo = east.create_instance(IdentityManagementType="CONNECT_MANAGED", InstanceAlias="solo", InboundCallsEnabled=True, OutboundCallsEnabled=True)
    assert error_of(east.create_traffic_distribution_group, Name="x", InstanceId=solo["Id"]) == ("InvalidRequestException", 400)
    assert error_of(east.create_traffic_distribution_group, Name="x", InstanceId="nope") == ("ResourceNotFoundException", 404)

    assert error_of(east.delete_traffic_distribution_group, TrafficDistributionGroupId=gr.group["Id"]) == ("InvalidRequestException", 400)
    assert error_of(gr.west.delete_traffic_distribution_group, TrafficDistributionGroupId=created["Arn"]) == ("InvalidRequestException", 400)
    east.delete_traffic_distribution_group(TrafficDistributionGroupId=created["Arn"])
    assert error_of(east.delete_traffic_distribution_group, TrafficDistributionGroupId=created["Id"]) == ("ResourceNotFoundException", 404)
    assert error_of(east.describe_traffic_distribution_group, TrafficDistributionGroupId=created["Id"]) == ("ResourceNotFoundException", 404)


def test_replicate_instance_validation(gr, clients):
    unchecked = clients("connect", EAST, config=botocore.config.Config(parameter_validation=False))
    solo = gr.east.create_instance(IdentityManagementType="CONNECT_MANAGED", InstanceAlias="solo", InboundCallsEnabled=True, OutboundCallsEnabled=True)
    assert error_of(unchecked.replicate_instance, InstanceId=solo["Id"], ReplicaAlias="solo-west") == ("InvalidRequestException", 400)
    assert error_of(unchecked.replicate_instance, InstanceId=solo["Id"], ReplicaRegion="x") == ("InvalidRequestException", 400)
    assert error_of(gr.east.replicate_instance, InstanceId=solo["Id"], ReplicaRegion="eu-west-1", ReplicaAlias="solo-eu") == ("InvalidRequestException", 400)
    assert error_of(gr.east.replicate_instance, InstanceId=solo["Id"], ReplicaRegion=EAST, ReplicaAlias="solo-2") == ("InvalidRequestException", 400)
    missing = "00000000-0000-0000-0000-000000000000"
    assert error_of(gr.east.replicate_instance, InstanceId=missing, ReplicaRegion=WEST, ReplicaAlias="m") == ("ResourceNotFoundException", 404)
    assert error_of(gr.east.replicate_instance, InstanceId=gr.id, ReplicaRegion=WEST, ReplicaAlias="again") == ("ResourceConflictException", 409)
    assert error_of(gr.west.replicate_instance, InstanceId=gr.id, ReplicaRegion=EAST, ReplicaAlias="back") == ("InvalidRequestException", 400)
    # By ARN, and idempotent for the same client token.
    first = gr.east.replicate_instance(InstanceId=solo["Arn"], ReplicaRegion=WEST, ReplicaAlias="solo-west", ClientToken="t-1")
    again = gr.east.replicate_instance(InstanceId=solo["Arn"], ReplicaRegion=WEST, ReplicaAlias="solo-west", ClientToken="t-1")
    assert first["Arn"] == again["Arn"] == f"arn:aws:connect:{WEST}:123456789012:instance/{solo['Id']}"


def test_replication_control_shows_in_describe_instance(endpoint, gr):
    spec = {"region": WEST, "instanceId": gr.id, "replicaRegion": WEST, "status": "INSTANCE_REPLICATION_FAILED", "reason": "quota"}
    assert control(endpoint, "/_emulator/connect/replication", spec) == 200
    summaries = {s["Region"]: s for s in gr.west.describe_instance(InstanceId=gr.id)["ReplicationConfiguration"]["ReplicationStatusSummaryList"]}
    assert summaries[WEST]["ReplicationStatus"] == "INSTANCE_REPLICATION_FAILED" and summaries[WEST]["ReplicationStatusReason"] == "quota"
    assert summaries[EAST]["ReplicationStatus"] == "INSTANCE_REPLICATION_COMPLETE"
    east_view = gr.east.describe_instance(InstanceId=gr.id)["ReplicationConfiguration"]["ReplicationStatusSummaryList"]
    assert all(s["ReplicationStatus"] == "INSTANCE_REPLICATION_COMPLETE" for s in east_view), "each region has its own view"
    # A source whose replication is not complete cannot get new groups.
    spec.update(region=EAST, status="INSTANCE_REPLICATION_IN_PROGRESS")
    assert control(endpoint, "/_emulator/connect/replication", spec) == 200
    assert error_of(gr.east.create_traffic_distribution_group, Name="x", InstanceId=gr.id) == ("ResourceNotReadyException", 409)
    assert control(endpoint, "/_emulator/connect/replication", {**spec, "status": "DONE"}) == 400
    assert control(endpoint, "/_emulator/connect/replication", {**spec, "replicaRegion": "eu-west-2"}) == 404
    assert control(endpoint, "/_emulator/connect/settings", {"updateSeconds": -1}) == 400
    assert control(endpoint, "/_emulator/connect/nothing", {}) == 404


def test_rest_json_errors_carry_the_error_type_header(endpoint, gr):
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        gr.east.describe_traffic_distribution_group(TrafficDistributionGroupId="00000000-0000-0000-0000-000000000000")
    headers = raised.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert raised.value.response["Error"]["Message"]
    status, headers, body = signed(endpoint, EAST, "PUT", f"/traffic-distribution/{quote(gr.group['Arn'], safe='')}", b'{"TelephonyConfig": {}}')
    assert status == 400 and headers["x-amzn-ErrorType"] == "InvalidRequestException" and json.loads(body)["message"]
    status, headers, _ = signed(endpoint, EAST, "GET", "/traffic-distribution-group/not-a-uuid")
    assert status == 400 and headers["x-amzn-ErrorType"] == "InvalidRequestException"


def test_regional_outage(endpoint, gr, clients, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", CBOR_FIRST)
        watch = {region: clients("cloudwatch", region, config=NO_RETRY) for region in (EAST, WEST)}
    connect = {region: clients("connect", region, config=NO_RETRY) for region in (EAST, WEST)}
    assert control(endpoint, "/_emulator/outage", {"region": EAST}) == 200
    control(endpoint, "/_emulator/calls", method="DELETE")  # forgetting calls keeps the outage on
    assert error_of(connect[EAST].describe_instance, InstanceId=gr.id) == ("InternalServiceException", 500)
    assert error_of(connect[EAST].get_traffic_distribution, Id=gr.group["Arn"]) == ("InternalServiceException", 500)
    assert error_of(connect[EAST].list_instances) == ("InternalServiceException", 500)
    assert error_of(watch[EAST].describe_alarms) == ("InternalServiceError", 500)  # awsQuery-compatible code
    assert error_of(clients("route53", WEST, config=NO_RETRY).list_hosted_zones) == ("InternalFailure", 500)  # served in us-east-1
    # The other region works, the replica's group included.
    assert connect[WEST].get_traffic_distribution(Id=gr.group["Arn"])["Id"] == gr.group["Id"]
    assert watch[WEST].describe_alarms()["MetricAlarms"] == []
    outcomes = [(c["service"], c["operation"], c["outcome"]) for c in calls(endpoint)]
    assert outcomes == [
        ("connect", "DescribeInstance", "outage"),
        ("connect", "GetTrafficDistribution", "outage"),
        ("connect", "ListInstances", "outage"),
        ("cloudwatch", "DescribeAlarms", "outage"),
        ("route53", "ListHostedZones", "outage"),
        ("connect", "GetTrafficDistribution", "served"),
        ("cloudwatch", "DescribeAlarms", "served"),
    ]
    assert control(endpoint, "/_emulator/outage", method="DELETE") == 200
    assert connect[EAST].describe_instance(InstanceId=gr.id)["Instance"]["Id"] == gr.id
    assert watch[EAST].describe_alarms()["MetricAlarms"] == []

    # One service only.
    assert control(endpoint, "/_emulator/outage", {"region": EAST, "service": "connect"}) == 200
    assert error_of(connect[EAST].describe_instance, InstanceId=gr.id) == ("InternalServiceException", 500)
    assert watch[EAST].describe_alarms()["MetricAlarms"] == []
    assert control(endpoint, "/_emulator/outage", {"service": "connect"}) == 400
    control(endpoint, "/moto-api/reset")  # a reset ends outages too
    assert connect[EAST].list_instances()["InstanceSummaryList"] == []


def test_throttling_injection_applies_to_layer_operations(endpoint, gr, clients):
    fault = {"service": "connect", "operation": "GetTrafficDistribution", "every": 1, "count": 1}
    assert control(endpoint, "/_emulator/faults", fault) == 200
    control(endpoint, "/_emulator/calls", method="DELETE")  # forgets faults too
    assert control(endpoint, "/_emulator/faults", fault) == 200
    assert gr.east.get_traffic_distribution(Id=gr.group["Id"])["Id"] == gr.group["Id"]  # retried once
    assert [c["outcome"] for c in calls(endpoint)] == ["throttled", "served"]
    assert control(endpoint, "/_emulator/faults", fault) == 200
    code, status = error_of(clients("connect", EAST, config=NO_RETRY).get_traffic_distribution, Id=gr.group["Id"])
    assert (code, status) == ("ThrottlingException", 429)
