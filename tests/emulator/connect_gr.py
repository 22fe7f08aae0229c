"""Amazon Connect Global Resiliency, which moto lacks, in front of moto (restJson1, as aws-sdk-connect speaks it).

The layer answers ReplicateInstance, DescribeInstance (moto's answer has no ReplicationConfiguration and an ISO
CreatedTime the Rust SDK cannot parse), the traffic distribution group operations and Get/UpdateTrafficDistribution;
it corrects CreatedTime in moto's ListInstances; every other Connect operation goes to moto unchanged.

Instances live in moto (a replica is added to moto's backend of the replica region, with the source's id and its
own ARN, so moto lists, describes and deletes it there too); replication views and groups live here, per region,
until POST /moto-api/reset. Shapes, member names, URIs, enums and error statuses come from botocore's model of
Connect, the model aws-sdk-connect is generated from.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, unquote

import botocore.session
from moto.connect.models import Instance, connect_backends

from cbor_layer import _epoch as epoch_seconds
from operations import identify, raw_path
from operations import region as request_region

ACCOUNT = "123456789012"  # moto's default account
# Where a replica may be created from a source region (Connect Global Resiliency's region pairs).
REPLICA_REGIONS = {
    "us-east-1": {"us-west-2"},
    "us-west-2": {"us-east-1"},
    "eu-west-2": {"eu-central-1"},
    "eu-central-1": {"eu-west-2"},
    "ap-northeast-1": {"ap-northeast-3"},
}
COMPLETE = "INSTANCE_REPLICATION_COMPLETE"
GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:connect:(?P<region>[a-z0-9-]+):[0-9]+:traffic-distribution-group/(?P<id>.+)$")
INSTANCE_ARN = re.compile(r"^arn:aws[a-z-]*:connect:(?P<region>[a-z0-9-]+):[0-9]+:instance/(?P<id>.+)$")

MODEL = botocore.session.get_session().get_service_model("connect")
REPLICATION_STATUSES = MODEL.shape_for("InstanceReplicationStatus").enum
GROUP_STATUSES = MODEL.shape_for("TrafficDistributionGroupStatus").enum


class ApiError(Exception):
    """An error of the Connect model; its HTTP status is the error shape's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.status = MODEL.shape_for(code).metadata["error"]["httpStatusCode"]


@dataclass
class Replication:
    """One region's view of a replicated instance, as its DescribeInstance tells it."""

    source: str
    replica: str
    endpoint: str
    statuses: dict[str, list[str]]  # region -> [ReplicationStatus, ReplicationStatusReason]

    def to_json(self) -> dict:
        return {
            "ReplicationStatusSummaryList": [
                {"Region": r, "ReplicationStatus": s, "ReplicationStatusReason": why} for r, (s, why) in self.statuses.items()
            ],
            "SourceRegion": self.source,
            "GlobalSignInEndpoint": self.endpoint,
        }


@dataclass
class Group:
    """A traffic distribution group; it lives in its source region and is reachable by ARN from the replica's."""

    id: str
    arn: str
    name: str
    description: str | None
    instance_arn: str
    instance_id: str
    source: str
    replica: str
    is_default: bool
    tags: dict[str, str]
    client_token: str | None
    telephony: dict[str, int]
    agents: dict[str, int]
    sign_in: dict[str, bool] | None  # the default group only
    status: str = "ACTIVE"
    busy_until: float | None = None  # monotonic time an accepted update stops being UPDATE_IN_PROGRESS

    def current_status(self) -> str:
        if self.busy_until is not None and time.monotonic() >= self.busy_until:
            self.status, self.busy_until = "ACTIVE", None
        return self.status

    def summary(self) -> dict:
        return {
            "Id": self.id,
            "Arn": self.arn,
            "Name": self.name,
            "InstanceArn": self.instance_arn,
            "Status": self.current_status(),
            "IsDefault": self.is_default,
        }


@dataclass
class RegionState:
    replications: dict[str, Replication] = field(default_factory=dict)  # by instance id
    groups: dict[str, Group] = field(default_factory=dict)  # by group id, groups whose source is this region


def _validate(value: Any, shape, where: str) -> None:
    """Server-side validation of a request value against its model shape (SDKs may skip their own)."""
    meta, kind = shape.metadata, shape.type_name

    def bad(why: str) -> None:
        raise ApiError("InvalidRequestException", f"Value at '{where}' failed to satisfy constraint: {why}")

    if kind == "structure":
        if not isinstance(value, dict):
            bad("Member must be a structure")
        for name in shape.required_members:
            if value.get(name) is None:
                raise ApiError("InvalidRequestException", f"Value null at '{where}{name}' failed to satisfy constraint: Member must not be null")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _validate(value[name], member, f"{where}{name}.")
        return
    where = where.rstrip(".")
    if kind in ("list", "map"):
        if not isinstance(value, list if kind == "list" else dict):
            bad(f"Member must be a {kind}")
        items = value if kind == "list" else value.values()
        for item in items:
            _validate(item, shape.member if kind == "list" else shape.value, f"{where}.member.")
    elif kind == "string":
        if not isinstance(value, str):
            bad("Member must be a string")
        if "pattern" in meta and not re.search(meta["pattern"], value):
            bad(f"Member must satisfy regular expression pattern: {meta['pattern']}")
        if shape.enum and value not in shape.enum:
            bad(f"Member must satisfy enum value set: {shape.enum}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            bad("Member must be an integer")
    elif kind == "boolean" and not isinstance(value, bool):
        bad("Member must be a boolean")
    size = value if kind in ("integer", "long") else len(value) if kind in ("string", "list", "map") else None
    if size is not None and "min" in meta and size < meta["min"]:
        bad(f"Member must have {'value' if kind in ('integer', 'long') else 'length'} greater than or equal to {meta['min']}")
    if size is not None and "max" in meta and size > meta["max"]:
        bad(f"Member must have {'value' if kind in ('integer', 'long') else 'length'} less than or equal to {meta['max']}")


def read_input(operation: str, environ: dict, body: bytes) -> dict:
    """The operation's input from URI labels (percent-decoded), query string and JSON body, validated."""
    op = MODEL.operation_model(operation)
    uri = op.http["requestUri"].split("?")[0]
    pattern = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(uri))
    labels = re.match(f"^{pattern}/?$", raw_path(environ))
    query = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        params = json.loads(body) if body.strip() else {}
    except ValueError:
        raise ApiError("InvalidRequestException", "The request body is not valid JSON") from None
    if not isinstance(params, dict):
        raise ApiError("InvalidRequestException", "The request body must be a JSON object")
    shape = op.input_shape
    for name, member in shape.members.items():
        location, wire = member.serialization.get("location"), member.serialization.get("name", name)
        if location == "uri" and labels:
            params[name] = unquote(labels[wire])
        elif location == "querystring" and wire in query:
            value = query[wire][0]
            if member.type_name == "integer":
                try:
                    value = int(value)
                except ValueError:
                    raise ApiError("InvalidRequestException", f"{wire} must be an integer") from None
            params[name] = value
    _validate(params, shape, "")
    return params


class ConnectGlobalResiliency:
    """WSGI middleware: the Global Resiliency operations are answered here, the rest of Connect by `inner`."""

    DEFAULT_UPDATE_SECONDS = 2.0

    def __init__(self, inner: Callable) -> None:
        self.inner = inner
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.regions: dict[str, RegionState] = {}
            self.update_seconds = self.DEFAULT_UPDATE_SECONDS

    def state(self, region: str) -> RegionState:
        return self.regions.setdefault(region, RegionState())

    # ---- WSGI ----

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # for moto, when the request goes on to it
        operation = identify(environ, body)
        region = request_region(environ)
        if operation == ("connect", "ListInstances"):
            return self.list_instances(environ, start_response)
        if region is None or operation is None or operation[0] != "connect" or operation[1] not in HANDLED:
            return self.inner(environ, start_response)
        handler = getattr(self, _snake(operation[1]))
        try:
            params = read_input(operation[1], environ, body)
            with self.lock:
                status, payload = 200, handler(region, params)
        except ApiError as err:
            status, payload = err.status, {"message": err.message}
            headers = [("x-amzn-ErrorType", err.code)]
        else:
            headers = []
        data = json.dumps(payload).encode() if payload is not None else b""
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        headers.append(("x-amzn-RequestId", str(uuid.uuid4())))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [data]

    def list_instances(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        """moto's ListInstances with CreatedTime as epoch seconds (moto sends ISO text)."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        chunks = self.inner(environ, capture)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        if captured["status"].startswith("200"):
            reply = json.loads(data)
            for summary in reply.get("InstanceSummaryList", []):
                if isinstance(summary.get("CreatedTime"), str):
                    summary["CreatedTime"] = epoch_seconds(summary["CreatedTime"])
            data = json.dumps(reply).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(data)))])
        return [data]

    # ---- instances ----

    def moto_instance(self, region: str, instance_id: str) -> Instance | None:
        try:
            return connect_backends[ACCOUNT][region].instances.get(instance_id)
        except KeyError:  # a region moto does not know
            return None

    def source_instance(self, region: str, id_or_arn: str) -> Instance:
        found = INSTANCE_ARN.match(id_or_arn)
        if found and found["region"] != region:
            raise ApiError("InvalidRequestException", f"Instance ARN {id_or_arn} is not in {region}")
        instance_id = found["id"] if found else id_or_arn
        instance = self.moto_instance(region, instance_id)
        if instance is None:
            raise ApiError("ResourceNotFoundException", f"Instance {instance_id} not found in {region}")
        return instance

    def describe_instance(self, region: str, params: dict) -> dict:
        instance = self.source_instance(region, params["InstanceId"])
        described = instance.to_dict()
        described["CreatedTime"] = instance.created_time.timestamp()  # epoch seconds, as restJson1 requires
        described.pop("Tags", None)
        tags = connect_backends[ACCOUNT][region].list_tags_for_resource(instance.arn)
        if tags:
            described["Tags"] = tags
        reply = {"Instance": described}
        replication = self.state(region).replications.get(instance.id)
        if replication:
            reply["ReplicationConfiguration"] = replication.to_json()
        return reply

    def replicate_instance(self, region: str, params: dict) -> dict:
        instance = self.source_instance(region, params["InstanceId"])
        replica, token = params["ReplicaRegion"], params.get("ClientToken")
        existing = self.state(region).replications.get(instance.id)
        if existing and existing.source != region:
            raise ApiError("InvalidRequestException", f"Instance {instance.id} is a replica; replicate its source in {existing.source}")
        if existing:
            default = next(g for g in self.state(region).groups.values() if g.is_default and g.instance_id == instance.id)
            if token and default.client_token == token and existing.replica == replica:  # an idempotent retry
                return {"Id": instance.id, "Arn": f"arn:aws:connect:{replica}:{ACCOUNT}:instance/{instance.id}"}
            raise ApiError("ResourceConflictException", f"Instance {instance.id} is already replicated to {existing.replica}")
        if replica not in REPLICA_REGIONS.get(region, set()):
            raise ApiError("InvalidRequestException", f"Replicating from {region} to {replica} is not supported")
        alias = params.get("ReplicaAlias") or instance.instance_alias
        try:
            replica_backend = connect_backends[ACCOUNT][replica]
        except KeyError:
            raise ApiError("InvalidRequestException", f"Unknown region {replica}") from None
        if any(i.instance_alias == alias for i in replica_backend.instances.values()):
            raise ApiError("ResourceConflictException", f"Alias {alias} is already taken in {replica}")

        copy = Instance(
            identity_management_type=instance.identity_management_type,
            inbound_calls_enabled=instance.inbound_calls_enabled,
            outbound_calls_enabled=instance.outbound_calls_enabled,
            account_id=ACCOUNT,
            region=replica,
            instance_alias=alias,
        )
        copy.id, copy.arn = instance.id, f"arn:aws:connect:{replica}:{ACCOUNT}:instance/{instance.id}"
        replica_backend.instances[copy.id] = copy

        endpoint = f"https://{instance.instance_alias or instance.id}.my.connect.aws/global-sign-in"
        for side in (region, replica):  # each region keeps its own view (the controls change one of them)
            statuses = {r: [COMPLETE, ""] for r in (region, replica)}
            self.state(side).replications[instance.id] = Replication(region, replica, endpoint, statuses)

        group_id = str(uuid.uuid4())
        self.state(region).groups[group_id] = Group(
            id=group_id,
            arn=f"arn:aws:connect:{region}:{ACCOUNT}:traffic-distribution-group/{group_id}",
            name=f"{instance.instance_alias or instance.id}-default"[:128],
            description=None,
            instance_arn=instance.arn,
            instance_id=instance.id,
            source=region,
            replica=replica,
            is_default=True,
            tags={},
            client_token=token,
            telephony={region: 100, replica: 0},
            agents={region: 100, replica: 0},
            sign_in={region: True, replica: True},
        )
        return {"Id": copy.id, "Arn": copy.arn}

    # ---- traffic distribution groups ----

    def find_group(self, region: str, id_or_arn: str) -> Group:
        """By ARN from the group's source or replica region; by bare id from its source region only."""
        found = GROUP_ARN.match(id_or_arn)
        if found:
            group = self.state(found["region"]).groups.get(found["id"])
            if group and region in (group.source, group.replica) and group.arn == id_or_arn:
                return group
        else:
            group = self.state(region).groups.get(id_or_arn)
            if group:
                return group
        raise ApiError("ResourceNotFoundException", f"Traffic distribution group {id_or_arn} not found in {region}")

    def create_traffic_distribution_group(self, region: str, params: dict) -> dict:
        instance = self.source_instance(region, params["InstanceId"])
        replication = self.state(region).replications.get(instance.id)
        if replication is None:
            raise ApiError("InvalidRequestException", f"Instance {instance.id} is not replicated")
        if replication.source != region:
            raise ApiError("InvalidRequestException", f"Create traffic distribution groups in the source region {replication.source}")
        if any(status != COMPLETE for status, _ in replication.statuses.values()):
            raise ApiError("ResourceNotReadyException", f"Replication of instance {instance.id} is not complete")
        groups = self.state(region).groups
        token = params.get("ClientToken")
        for group in groups.values():
            if token and group.client_token == token and group.name == params["Name"]:  # an idempotent retry
                return {"Id": group.id, "Arn": group.arn}
            if group.instance_id == instance.id and group.name == params["Name"]:
                raise ApiError("ResourceConflictException", f"A traffic distribution group named {params['Name']} exists")
        group_id = str(uuid.uuid4())
        groups[group_id] = group = Group(
            id=group_id,
            arn=f"arn:aws:connect:{region}:{ACCOUNT}:traffic-distribution-group/{group_id}",
            name=params["Name"],
            description=params.get("Description"),
            instance_arn=instance.arn,
            instance_id=instance.id,
            source=region,
            replica=replication.replica,
            is_default=False,
            tags=dict(params.get("Tags") or {}),
            client_token=token,
            telephony={region: 100, replication.replica: 0},
            agents={region: 100, replication.replica: 0},
            sign_in=None,
        )
        return {"Id": group.id, "Arn": group.arn}

    def describe_traffic_distribution_group(self, region: str, params: dict) -> dict:
        group = self.find_group(region, params["TrafficDistributionGroupId"])
        described = group.summary()
        if group.description:
            described["Description"] = group.description
        if group.tags:
            described["Tags"] = group.tags
        return {"TrafficDistributionGroup": described}

    def list_traffic_distribution_groups(self, region: str, params: dict) -> dict:
        groups = list(self.state(region).groups.values())  # groups are listed in their source region only
        if params.get("InstanceId"):
            found = INSTANCE_ARN.match(params["InstanceId"])
            instance_id = found["id"] if found else params["InstanceId"]
            groups = [g for g in groups if g.instance_id == instance_id]
        token, size = params.get("NextToken"), params.get("MaxResults") or 10
        if token is not None and not (token.isdigit() and int(token) <= len(groups)):
            raise ApiError("InvalidRequestException", "Invalid NextToken")
        start = int(token or 0)
        reply: dict[str, Any] = {"TrafficDistributionGroupSummaryList": [g.summary() for g in groups[start : start + size]]}
        if start + size < len(groups):
            reply["NextToken"] = str(start + size)
        return reply

    def delete_traffic_distribution_group(self, region: str, params: dict) -> None:
        group = self.find_group(region, params["TrafficDistributionGroupId"])
        if region != group.source:
            raise ApiError("InvalidRequestException", f"Delete the group in the region it was created in, {group.source}")
        if group.is_default:
            raise ApiError("InvalidRequestException", "The default traffic distribution group cannot be deleted")
        del self.state(region).groups[group.id]
        return None

    def get_traffic_distribution(self, region: str, params: dict) -> dict:
        group = self.find_group(region, params["Id"])
        reply: dict[str, Any] = {
            "TelephonyConfig": {"Distributions": [{"Region": r, "Percentage": p} for r, p in group.telephony.items()]},
            "Id": group.id,
            "Arn": group.arn,
            "AgentConfig": {"Distributions": [{"Region": r, "Percentage": p} for r, p in group.agents.items()]},
        }
        if group.sign_in is not None:
            reply["SignInConfig"] = {"Distributions": [{"Region": r, "Enabled": e} for r, e in group.sign_in.items()]}
        return reply

    def update_traffic_distribution(self, region: str, params: dict) -> None:
        group = self.find_group(region, params["Id"])
        status = group.current_status()
        if status == "UPDATE_IN_PROGRESS":
            raise ApiError("ResourceConflictException", f"An update of traffic distribution group {group.id} is in progress")
        if status != "ACTIVE":
            raise ApiError("InvalidRequestException", f"Traffic distribution group {group.id} is {status}, not ACTIVE")
        regions = {group.source, group.replica}
        changes: dict[str, Any] = {}
        for key, attribute in (("TelephonyConfig", "telephony"), ("AgentConfig", "agents")):
            if key not in params:
                continue
            distributions = params[key]["Distributions"]
            named = [d["Region"] for d in distributions]
            if sorted(named) != sorted(regions):
                raise ApiError("InvalidRequestException", f"{key} must name each of {sorted(regions)} once, not {named}")
            if any(d["Percentage"] % 10 for d in distributions):
                raise ApiError("InvalidRequestException", f"{key} percentages must be multiples of 10")
            if sum(d["Percentage"] for d in distributions) != 100:
                raise ApiError("InvalidRequestException", f"{key} percentages must sum to 100")
            changes[attribute] = {d["Region"]: d["Percentage"] for d in distributions}
        if "SignInConfig" in params:
            if not group.is_default:
                raise ApiError("InvalidRequestException", "SignInConfig can only be set on the default traffic distribution group")
            named = [d["Region"] for d in params["SignInConfig"]["Distributions"]]
            if len(set(named)) != len(named) or not set(named) <= regions:
                raise ApiError("InvalidRequestException", f"SignInConfig must name regions of {sorted(regions)} at most once each")
            changes["sign_in"] = {**group.sign_in, **{d["Region"]: d["Enabled"] for d in params["SignInConfig"]["Distributions"]}}
        if not changes:
            raise ApiError("InvalidRequestException", "Give at least one of TelephonyConfig, SignInConfig, AgentConfig")
        for attribute, value in changes.items():
            setattr(group, attribute, value)
        # The new distribution is what GetTrafficDistribution reads at once; the group stays busy for a while.
        group.status, group.busy_until = "UPDATE_IN_PROGRESS", time.monotonic() + self.update_seconds
        return None

    # ---- test controls (server.py routes /_emulator/connect/<name> here) ----

    def control(self, name: str, spec: dict) -> None:
        """Raises ValueError (a 400) for a malformed spec, KeyError (a 404) for an unknown resource."""
        with self.lock:
            if name == "replication":
                status = spec.get("status")
                if status not in REPLICATION_STATUSES:
                    raise ValueError(f"status must be one of {REPLICATION_STATUSES}")
                replication = self.state(str(spec.get("region"))).replications.get(str(spec.get("instanceId")))
                if replication is None or str(spec.get("replicaRegion")) not in replication.statuses:
                    raise KeyError("no such replicated instance and region")
                replication.statuses[spec["replicaRegion"]] = [status, str(spec.get("reason", ""))]
            elif name == "group":
                status, found = spec.get("status"), GROUP_ARN.match(str(spec.get("arn")))
                if status not in GROUP_STATUSES:
                    raise ValueError(f"status must be one of {GROUP_STATUSES}")
                group = self.state(found["region"]).groups.get(found["id"]) if found else None
                if group is None:
                    raise KeyError("no such traffic distribution group")
                group.status, group.busy_until = status, None
            elif name == "settings":
                seconds = spec.get("updateSeconds")
                if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                    raise ValueError("updateSeconds must be a number >= 0")
                self.update_seconds = float(seconds)
            else:
                raise KeyError(f"no control {name}")


HANDLED = {
    "DescribeInstance",
    "ReplicateInstance",
    "CreateTrafficDistributionGroup",
    "DescribeTrafficDistributionGroup",
    "ListTrafficDistributionGroups",
    "DeleteTrafficDistributionGroup",
    "GetTrafficDistribution",
    "UpdateTrafficDistribution",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

