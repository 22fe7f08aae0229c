"""Tests of the emulator layer itself, through boto3 (which speaks rpcv2-cbor to CloudWatch, as the Rust SDK does)."""

from __future__ import annotations

import datetime
import json
import urllib.request

import boto3
import botocore.config
import botocore.exceptions
import botocore.model
import cbor2
import pytest

from emulator_test_support import CBOR_FIRST, calls


@pytest.fixture()
def cloudwatch(endpoint, monkeypatch):
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    with monkeypatch.context() as patch:
        patch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", CBOR_FIRST)
        client = boto3.client(
            "cloudwatch",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    assert client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor", "boto3 must exercise the CBOR path"
    return client


def put_alarm(client, name: str, threshold: float = 120.0, **extra) -> None:
    client.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Connect",
        MetricName="LongestQueueWaitTime",
        Dimensions=[{"Name": "InstanceId", "Value": "i-1"}, {"Name": "MetricGroup", "Value": "Queue"}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold",
        **extra,
    )


def test_put_and_describe_round_trip_with_timestamps_and_floats(cloudwatch):
    put_alarm(cloudwatch, "queue-wait", threshold=120, Tags=[{"Key": "dialtone.io/owner", "Value": "cc/q"}])
    alarms = cloudwatch.describe_alarms(AlarmNames=["queue-wait"])["MetricAlarms"]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm["Threshold"] == 120.0 and isinstance(alarm["Threshold"], float)
    assert alarm["EvaluationPeriods"] == 3 and alarm["DatapointsToAlarm"] == 2
    assert isinstance(alarm["AlarmConfigurationUpdatedTimestamp"], datetime.datetime)
    assert {d["Name"] for d in alarm["Dimensions"]} == {"InstanceId", "MetricGroup"}
    tags = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert {"Key": "dialtone.io/owner", "Value": "cc/q"} in tags


def test_tag_resource_and_delete(cloudwatch):
    put_alarm(cloudwatch, "a")
    arn = cloudwatch.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]["AlarmArn"]
    cloudwatch.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "cc"}])
    assert cloudwatch.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "cc"}]
    cloudwatch.delete_alarms(AlarmNames=["a"])
    assert cloudwatch.describe_alarms(AlarmNames=["a"])["MetricAlarms"] == []


def test_errors_keep_their_type(cloudwatch):
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        cloudwatch.tag_resource(
            ResourceARN="arn:aws:cloudwatch:us-east-1:123456789012:alarm:missing", Tags=[{"Key": "k", "Value": "v"}]
        )
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_set_alarm_state_reads_back(cloudwatch):
    put_alarm(cloudwatch, "b")
    cloudwatch.set_alarm_state(AlarmName="b", StateValue="ALARM", StateReason="drill")
    alarm = cloudwatch.describe_alarms(AlarmNames=["b"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM" and alarm["StateReason"] == "drill"
    assert isinstance(alarm["StateUpdatedTimestamp"], datetime.datetime)


def test_calls_are_recorded_and_reset(endpoint, cloudwatch):
    put_alarm(cloudwatch, "c")
    cloudwatch.describe_alarms(AlarmNames=["c"])
    assert calls(endpoint) == [
        {"service": "cloudwatch", "operation": "PutMetricAlarm", "outcome": "served", "client": "other", "region": "us-east-1"},
        {"service": "cloudwatch", "operation": "DescribeAlarms", "outcome": "served", "client": "other", "region": "us-east-1"},
    ]
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    assert calls(endpoint) == []
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []


def test_malformed_cbor_is_a_client_error(endpoint):
    request = urllib.request.Request(
        f"{endpoint}/service/GraniteServiceVersion20100801/operation/DescribeAlarms",
        data=b"\xff\xff",
        method="POST",
        headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 400
    assert cbor2.loads(raised.value.read())["__type"] == "SerializationException"


def test_every_protocol_is_recorded(endpoint, cloudwatch):
    session = dict(region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
    boto3.client("resourcegroupstaggingapi", **session).get_resources(ResourceTypeFilters=["cloudwatch:alarm"])
    boto3.client("route53", **session).list_hosted_zones()
    zone = boto3.client("route53", **session).create_hosted_zone(Name="example.com", CallerReference="x")
    boto3.client("route53", **session).get_hosted_zone(Id=zone["HostedZone"]["Id"])
    assert [(c["service"], c["operation"]) for c in calls(endpoint)] == [
        ("resourcegroupstaggingapi", "GetResources"),
        ("route53", "ListHostedZones"),
        ("route53", "CreateHostedZone"),
        ("route53", "GetHostedZone"),
    ]


def test_injected_throttling_is_the_protocols_own_and_retried(endpoint, cloudwatch):
    request = urllib.request.Request(
        f"{endpoint}/_emulator/faults",
        data=json.dumps({"service": "cloudwatch", "operation": "DescribeAlarms", "every": 1, "count": 2}).encode(),
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10)
    # botocore retries throttling; the third attempt is served.
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []
    outcomes = [c["outcome"] for c in calls(endpoint)]
    assert outcomes == ["throttled", "throttled", "served"]
    no_retry = boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    urllib.request.urlopen(request, timeout=10)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        no_retry.describe_alarms()
    assert raised.value.response["Error"]["Code"] in ("Throttling", "ThrottlingException")


def test_a_share_of_every_call_is_throttled_at_random_and_reproducibly(endpoint, cloudwatch):
    def inject():
        request = urllib.request.Request(
            f"{endpoint}/_emulator/faults",
            data=json.dumps({"service": "*", "operation": "*", "share": 0.5, "seed": 7, "count": 1000}).encode(),
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10)

    no_retry = boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
    )

    def outcomes():
        seen = []
        for _ in range(40):
            try:
                no_retry.describe_alarms()
                seen.append("served")
            except botocore.exceptions.ClientError as err:
                assert err.response["Error"]["Code"] in ("Throttling", "ThrottlingException")
                seen.append("throttled")
        return seen

    inject()
    first = outcomes()
    assert 8 <= first.count("throttled") <= 32, first
    request = urllib.request.Request(f"{endpoint}/_emulator/calls", method="DELETE")
    urllib.request.urlopen(request, timeout=10)
    inject()
    assert outcomes() == first, "the same seed throttles the same calls"
