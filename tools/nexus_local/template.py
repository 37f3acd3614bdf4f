"""Reads what the local stack needs from template.yaml: functions, HTTP routes, authorizer.

CloudFormation short-form tags (!Ref, !GetAtt, !Sub, ...) are parsed into their long form
({"Ref": ...}, {"Fn::GetAtt": ...}) so the rest of the code sees plain data. A function's
properties are read after the template's Globals are merged into them as SAM merges them
(:func:`merge_globals`), so a value moved into Globals means the same here as on AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


# libyaml's parser when PyYAML has it: the template is read at every start (5x faster).
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    pass


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    key = "Ref" if suffix == "Ref" else ("Condition" if suffix == "Condition" else f"Fn::{suffix}")
    return {key: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    assert isinstance(data, dict)
    return data


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str] = field(default_factory=dict)
    layers: tuple[str, ...] = ()  # logical ids of the layers, the global ones first
    # ReservedConcurrentExecutions: the most environments the function may have at once
    reserved_concurrency: int | None = None

    @property
    def module_path(self) -> Path:
        return self.code_uri / (self.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function_id: str
    authorizer: str | None
    pattern: re.Pattern[str]

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def specificity(self) -> tuple[int, int, int]:
        segments = [s for s in self.path.split("/") if s]
        literal = sum(1 for s in segments if not s.startswith("{"))
        greedy = sum(1 for s in segments if s.endswith("+}"))
        return (-greedy, literal, len(segments))


@dataclass(frozen=True)
class Authorizer:
    name: str
    function_id: str
    identity_headers: tuple[str, ...]
    ttl_seconds: int
    simple_responses: bool


@dataclass(frozen=True)
class Queue:
    logical_id: str
    visibility_timeout: int
    retention: int
    dead_letter_target: str | None  # logical id of the dead-letter queue
    max_receive_count: int | None


@dataclass(frozen=True)
class SqsSource:
    function_id: str
    queue_id: str
    batch_size: int
    batching_window: int
    report_failures: bool
    max_concurrency: int


@dataclass(frozen=True)
class Schedule:
    function_id: str
    expression: str
    input: str | None


@dataclass(frozen=True)
class App:
    functions: dict[str, Function]
    routes: list[Route]
    authorizers: dict[str, Authorizer]
    parameters: dict[str, str]
    queues: dict[str, Queue] = field(default_factory=dict)
    # Logical ids of the template's S3 buckets.
    buckets: tuple[str, ...] = ()
    # Each bucket's CORS rules (its CorsConfiguration) in the S3 API's shape, values resolved.
    bucket_cors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sqs_sources: list[SqsSource] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)


# Properties SAM replaces rather than merges (samtranslator's Globals CUSTOM_STRATEGIES).
_REPLACED = {"Function": {"Architectures"}}


def _is_intrinsic(value: Any) -> bool:
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key in ("Ref", "Condition") or str(key).startswith("Fn::")
    return False


def merge_globals(
    global_value: Any, local_value: Any, replaced: frozenset[str] = frozenset()
) -> Any:
    """SAM's Globals merge (samtranslator ``GlobalProperties``): maps merge key by key,
    recursively; lists are the global items followed by the local ones; for anything else
    (scalars, intrinsic functions, or two values of different kinds) the local value wins.
    Top-level keys in ``replaced`` take the local value whole. Neither input is modified."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return local_value
        merged = dict(global_value)
        for key, value in local_value.items():
            if key in merged and key not in replaced:
                merged[key] = merge_globals(merged[key], value)
            else:
                merged[key] = value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def resource_properties(data: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """A resource's properties with the template's Globals for its type applied, as SAM does
    for ``AWS::Serverless::<Type>`` resources, ``IgnoreGlobals`` ("*" or a list of property
    names) included; other resources are returned as written."""
    res = (data.get("Resources") or {})[logical_id]
    props: dict[str, Any] = res.get("Properties") or {}
    prefix = "AWS::Serverless::"
    kind = str(res.get("Type", ""))
    if not kind.startswith(prefix):
        return props
    section = kind.removeprefix(prefix)
    glob = dict((data.get("Globals") or {}).get(section) or {})
    ignore = res.get("IgnoreGlobals")
    if ignore == "*":
        glob = {}
    elif isinstance(ignore, list):
        glob = {k: v for k, v in glob.items() if k not in ignore}
    merged: dict[str, Any] = merge_globals(glob, props, frozenset(_REPLACED.get(section, ())))
    return merged


def _path_regex(path: str) -> re.Pattern[str]:
    parts = []
    for segment in path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}>.+)")
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "$")


def _resolve(value: Any, parameters: dict[str, str]) -> str | None:
    """Plain values and !Ref to parameters (or to resources the local stack stands up, given
    as ``Ref:<id>`` / ``GetAtt:<id>.<attr>`` entries); anything else is skipped."""
    if isinstance(value, str | int | float | bool):
        return str(value)
    if isinstance(value, dict) and "Ref" in value:
        if value["Ref"] in parameters:  # a parameter, even one whose default is "" (as SAM)
            return parameters[value["Ref"]]
        return parameters.get(f"Ref:{value['Ref']}")
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return parameters.get("GetAtt:" + ".".join(value["Fn::GetAtt"]))
    return None


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return None


def _function_id_from_arn(value: Any) -> str:
    """The function behind an authorizer's FunctionArn: ``!GetAtt <Function>.Arn`` or the
    function's SAM alias, ``!Ref <Function>.Alias`` (the local stack has no versions)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    ref = value.get("Ref") if isinstance(value, dict) else None
    if isinstance(ref, str) and ref.endswith(".Alias"):
        return ref.removesuffix(".Alias")
    raise ValueError(
        "authorizer FunctionArn must be !GetAtt <Function>.Arn or !Ref <Function>.Alias,"
        f" got {value!r}"
    )


def parse(
    data: dict[str, Any] | None = None,
    root: Path = ROOT,
    resources_values: dict[str, str] | None = None,
) -> App:
    """``resources_values`` maps ``Ref:<id>`` and ``GetAtt:<id>.<attr>`` to local values
    (queue URLs and ARNs) so function environments that reference them resolve."""
    data = data or load()
    parameters = {
        name: str(spec.get("Default", "")) for name, spec in (data.get("Parameters") or {}).items()
    }
    parameters.update(resources_values or {})
    resources: dict[str, Any] = data.get("Resources") or {}
    authorizers, default_authorizer = _authorizers(data, resources)

    functions: dict[str, Function] = {}
    routes: list[Route] = []
    for logical_id, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource_properties(data, logical_id)
        functions[logical_id] = _function(logical_id, props, parameters, root)
        routes += _routes(logical_id, props, default_authorizer)
    routes.sort(key=Route.specificity, reverse=True)
    sqs_sources, schedules = _event_sources(resources, parameters)
    return App(
        functions=functions,
        routes=routes,
        authorizers=authorizers,
        parameters=parameters,
        queues=_queues(resources),
        buckets=tuple(k for k, v in resources.items() if v.get("Type") == "AWS::S3::Bucket"),
        bucket_cors=_bucket_cors(resources, parameters),
        sqs_sources=sqs_sources,
        schedules=schedules,
    )


def _authorizers(
    data: dict[str, Any], resources: dict[str, Any]
) -> tuple[dict[str, Authorizer], dict[str, str | None]]:
    """Every HttpApi's Lambda authorizers, and each HttpApi's default authorizer."""
    authorizers: dict[str, Authorizer] = {}
    default_authorizer: dict[str, str | None] = {}
    for logical_id, res in resources.items():
        if res.get("Type") != "AWS::Serverless::HttpApi":
            continue
        auth = resource_properties(data, logical_id).get("Auth") or {}
        default_authorizer[logical_id] = auth.get("DefaultAuthorizer")
        for name, spec in (auth.get("Authorizers") or {}).items():
            identity = spec.get("Identity") or {}
            authorizers[name] = Authorizer(
                name=name,
                function_id=_function_id_from_arn(spec.get("FunctionArn")),
                identity_headers=tuple(identity.get("Headers") or ["Authorization"]),
                ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
                simple_responses=bool(spec.get("EnableSimpleResponses", False)),
            )
    return authorizers, default_authorizer


def _function(
    logical_id: str, props: dict[str, Any], parameters: dict[str, str], root: Path
) -> Function:
    env: dict[str, str] = {}
    for key, raw in (((props.get("Environment") or {}).get("Variables")) or {}).items():
        resolved = _resolve(raw, parameters)
        if resolved is not None:
            env[key] = resolved
    if "Handler" not in props:
        raise ValueError(f"{logical_id} has no Handler (nor does Globals.Function)")
    return Function(
        logical_id=logical_id,
        code_uri=root / str(props.get("CodeUri", ".")),
        handler=str(props["Handler"]),
        # Lambda's defaults when neither the function nor Globals sets them
        timeout=int(props.get("Timeout", 3)),
        memory=int(props.get("MemorySize", 128)),
        environment=env,
        layers=tuple(i for i in map(_ref_id, props.get("Layers") or []) if i is not None),
        reserved_concurrency=_reserved(props.get("ReservedConcurrentExecutions"), parameters),
    )


def _reserved(value: Any, parameters: dict[str, str]) -> int | None:
    """``ReservedConcurrentExecutions``, a number or a !Ref to a parameter; None when unset
    (or an intrinsic the local stack cannot resolve, such as an !If on a condition)."""
    resolved = None if value is None else _resolve(value, parameters)
    return int(resolved) if resolved not in (None, "") else None


def _routes(
    logical_id: str, props: dict[str, Any], default_authorizer: dict[str, str | None]
) -> list[Route]:
    routes: list[Route] = []
    for event in (props.get("Events") or {}).values():
        if event.get("Type") != "HttpApi":
            continue
        ev = event.get("Properties") or {}
        api_ref = ev.get("ApiId", {})
        api_id = api_ref.get("Ref") if isinstance(api_ref, dict) else None
        authorizer = default_authorizer.get(str(api_id))
        ev_auth = (ev.get("Auth") or {}).get("Authorizer")
        if ev_auth is not None:
            authorizer = None if ev_auth == "NONE" else str(ev_auth)
        path = str(ev.get("Path", "$default"))
        routes.append(
            Route(
                method=str(ev.get("Method", "ANY")).upper(),
                path=path,
                function_id=logical_id,
                authorizer=authorizer,
                pattern=_path_regex(path),
            )
        )
    return routes


def _queues(resources: dict[str, Any]) -> dict[str, Queue]:
    queues: dict[str, Queue] = {}
    for logical_id, res in resources.items():
        if res.get("Type") != "AWS::SQS::Queue":
            continue
        props = res.get("Properties") or {}
        redrive = props.get("RedrivePolicy") or {}
        queues[logical_id] = Queue(
            logical_id=logical_id,
            visibility_timeout=int(props.get("VisibilityTimeout", 30)),
            retention=int(props.get("MessageRetentionPeriod", 345600)),
            dead_letter_target=_ref_id(redrive.get("deadLetterTargetArn")),
            max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
        )
    return queues


# CloudFormation's CorsRule properties and the S3 API's names for them.
_CORS_FIELDS = {
    "AllowedHeaders": "AllowedHeaders",
    "AllowedMethods": "AllowedMethods",
    "AllowedOrigins": "AllowedOrigins",
    "ExposedHeaders": "ExposeHeaders",
}


def _bucket_cors(
    resources: dict[str, Any], parameters: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """The CORS rules of every bucket that has some (the files bucket's let the web app's
    origin PUT a presigned upload), as ``PutBucketCors`` takes them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for logical_id, res in resources.items():
        if res.get("Type") != "AWS::S3::Bucket":
            continue
        config = (res.get("Properties") or {}).get("CorsConfiguration") or {}
        rules = []
        for rule in config.get("CorsRules") or []:
            s3_rule: dict[str, Any] = {
                s3_name: [v for v in (_resolve(x, parameters) for x in rule[name]) if v]
                for name, s3_name in _CORS_FIELDS.items()
                if name in rule
            }
            if "MaxAge" in rule:
                s3_rule["MaxAgeSeconds"] = int(rule["MaxAge"])
            rules.append(s3_rule)
        if rules:
            found[logical_id] = rules
    return found


def _event_sources(
    resources: dict[str, Any], parameters: dict[str, str]
) -> tuple[list[SqsSource], list[Schedule]]:
    sqs_sources: list[SqsSource] = []
    schedules: list[Schedule] = []
    for logical_id, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for event in ((res.get("Properties") or {}).get("Events") or {}).values():
            ev = event.get("Properties") or {}
            if event.get("Type") == "SQS":
                scaling = ev.get("ScalingConfig") or {}
                sqs_sources.append(
                    SqsSource(
                        function_id=logical_id,
                        queue_id=str(_ref_id(ev.get("Queue"))),
                        batch_size=int(ev.get("BatchSize", 10)),
                        batching_window=int(ev.get("MaximumBatchingWindowInSeconds", 0)),
                        report_failures="ReportBatchItemFailures"
                        in (ev.get("FunctionResponseTypes") or []),
                        max_concurrency=int(scaling.get("MaximumConcurrency", 2)),
                    )
                )
            elif event.get("Type") in ("Schedule", "ScheduleV2"):
                expression = _resolve(
                    ev.get("ScheduleExpression") or ev.get("Schedule"), parameters
                )
                schedules.append(
                    Schedule(
                        function_id=logical_id, expression=str(expression), input=ev.get("Input")
                    )
                )
    return sqs_sources, schedules
