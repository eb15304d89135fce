"""Reading a cloud assembly (`cdk.out/manifest.json`) the way the deployer needs it.

`select_stacks` picks the stacks of one service in one environment and orders them by their
dependencies:

- a stack is selected when its `environment` is `aws://{account}/{region}` and its stack name
  (`properties.stackName`, else the artifact id) starts with `{service}-{env}-`;
- any other stack pinned to the target account (another prefix, another region), any stack named
  with the prefix but pinned elsewhere, and any environment-agnostic stack named with the prefix is an
  error naming the stack: the deploy role could not deploy it, and skipping it silently would leave
  the environment half deployed;
- dependencies on non-stack artifacts (`*.assets`, the tree) are ignored; a dependency on a stack
  that is not selected is an error (it cannot be deployed first); a cycle is an error naming it.

Nested stack templates (`*.nested.template.json`) are file assets that CI published with the other
assets; the parent template refers to them by URL and CloudFormation deploys them with the parent.
Nested cloud assemblies (CDK Stages) are refused with a clear error rather than silently ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from functions.naming import stack_prefix

from .errors import AssemblyError

STACK_TYPE = "aws:cloudformation:stack"
NESTED_ASSEMBLY_TYPE = "cdk:cloud-assembly"
_ENVIRONMENT = re.compile(r"^aws://(?P<account>[^/]+)/(?P<region>[^/]+)\Z")
_S3_URL = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)\Z")
_PLACEHOLDER = re.compile(r"\$\{AWS::(AccountId|Region|Partition|URLSuffix)\}")


@dataclass(frozen=True)
class Stack:
    """One stack to deploy, with everything taken from the manifest (placeholders resolved)."""

    artifact_id: str
    name: str
    account: str
    region: str
    template_path: Path
    template_url: str | None = None  # https URL of the published template asset, if any
    template_s3_url: str | None = None  # the same as s3://bucket/key
    tags: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    termination_protection: bool = False
    dependencies: tuple[str, ...] = ()  # names of the selected stacks this one depends on


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def url_suffix(region: str) -> str:
    return "amazonaws.com.cn" if partition_of(region) == "aws-cn" else "amazonaws.com"


def substitute(value: str, *, account: str, region: str) -> str:
    """Resolve the `${AWS::...}` placeholders that CDK leaves in asset locations."""
    values = {
        "AccountId": account,
        "Region": region,
        "Partition": partition_of(region),
        "URLSuffix": url_suffix(region),
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], value)


def https_template_url(s3_url: str, region: str) -> str:
    """`s3://bucket/key` as the path-style https URL CloudFormation accepts for `TemplateURL`.

    Path style, as the CDK CLI does it: it works for bucket names with dots too."""
    match = _S3_URL.match(s3_url)
    if not match:
        raise AssemblyError(f"template asset URL {s3_url!r} is not of the form s3://bucket/key")
    return f"https://s3.{region}.{url_suffix(region)}/{match['bucket']}/{match['key']}"


def read_manifest(cdk_out: Path) -> dict[str, Any]:
    path = Path(cdk_out) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AssemblyError(f"{path}: no cloud assembly manifest (is --cdk-out the cdk.out directory?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AssemblyError(f"{path}: unreadable cloud assembly manifest: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts", {}), dict):
        raise AssemblyError(f"{path}: not a cloud assembly manifest (no `artifacts` object)")
    return manifest


def read_template(stack: Stack) -> bytes:
    """The default template loader: the template file of the stack, as bytes."""
    try:
        return stack.template_path.read_bytes()
    except OSError as exc:
        raise AssemblyError(f"{stack.name}: cannot read template {stack.template_path}: {exc}") from None


def select_stacks(cdk_out: Path, *, service: str, environment: str, account: str, region: str) -> list[Stack]:
    """The stacks of `service` in `environment`, in an order that deploys dependencies first."""
    cdk_out = Path(cdk_out)
    manifest = read_manifest(cdk_out)
    artifacts: dict[str, Any] = manifest.get("artifacts") or {}
    prefix = stack_prefix(service, environment)

    nested = [aid for aid, a in artifacts.items() if isinstance(a, dict) and a.get("type") == NESTED_ASSEMBLY_TYPE]
    if nested:
        raise AssemblyError(
            f"nested cloud assemblies (CDK Stages) are not supported: {', '.join(sorted(nested))}; "
            "define the service's stacks at the top level of the CDK app"
        )

    stack_ids = [aid for aid, a in artifacts.items() if isinstance(a, dict) and a.get("type") == STACK_TYPE]
    selected: dict[str, Stack] = {}  # artifact id -> stack, in manifest order
    problems: list[str] = []
    for artifact_id in stack_ids:
        artifact = artifacts[artifact_id]
        properties = artifact.get("properties") or {}
        if not isinstance(properties, dict):
            raise AssemblyError(f"artifact {artifact_id}: properties must be an object")
        name = properties.get("stackName", artifact_id)
        if not isinstance(name, str) or not name:
            raise AssemblyError(f"artifact {artifact_id}: properties.stackName must be a string, not {name!r}")
        env_account, env_region = _environment(artifact_id, artifact.get("environment"))
        named_for_us = name.startswith(prefix)
        in_account = env_account == account
        if in_account and env_region == region and named_for_us:
            selected[artifact_id] = _stack(cdk_out, artifact_id, name, properties, account=account, region=region)
        elif in_account and not named_for_us:
            problems.append(
                f"stack {name} targets account {account} but is not named {prefix}*: "
                "the deploy role of this service and environment cannot deploy it"
            )
        elif in_account:
            problems.append(f"stack {name} targets region {env_region}, not {region}")
        elif named_for_us:
            problems.append(
                f"stack {name} is named for {service} {environment} but targets "
                f"{artifact.get('environment') or 'no environment'}, not aws://{account}/{region}"
            )
    if problems:
        raise AssemblyError("; ".join(problems))
    if not selected:
        raise AssemblyError(f"no stack named {prefix}* targets aws://{account}/{region} in {cdk_out / 'manifest.json'}")

    names = {aid: s.name for aid, s in selected.items()}
    graph: dict[str, list[str]] = {}
    for artifact_id, stack in selected.items():
        deps: list[str] = []
        for dep in artifacts[artifact_id].get("dependencies") or []:
            target = artifacts.get(dep)
            if not isinstance(target, dict) or target.get("type") != STACK_TYPE:
                continue  # assets, tree, ...: published by CI, nothing to order
            if dep not in selected:
                dep_name = (target.get("properties") or {}).get("stackName") or dep
                raise AssemblyError(
                    f"stack {stack.name} depends on stack {dep_name}, which is not part of this deployment "
                    f"({prefix}* in aws://{account}/{region})"
                )
            if dep != artifact_id and dep not in deps:
                deps.append(dep)
            elif dep == artifact_id:
                raise AssemblyError(f"dependency cycle: {stack.name} -> {stack.name}")
        graph[artifact_id] = deps

    order = _topological(graph, names)
    return [_with_dependencies(selected[aid], tuple(names[d] for d in graph[aid])) for aid in order]


def _environment(artifact_id: str, environment: Any) -> tuple[str | None, str | None]:
    match = _ENVIRONMENT.match(environment) if isinstance(environment, str) else None
    if not match:
        raise AssemblyError(f"stack {artifact_id} has no valid environment (aws://account/region): {environment!r}")
    account, region = match["account"], match["region"]
    # Environment-agnostic stacks (`aws://unknown-account/unknown-region`) match no account.
    return (None if account == "unknown-account" else account), (None if region == "unknown-region" else region)


def _stack(
    cdk_out: Path, artifact_id: str, name: str, properties: dict[str, Any], *, account: str, region: str
) -> Stack:
    template_file = properties.get("templateFile")
    if not isinstance(template_file, str) or not template_file:
        raise AssemblyError(f"stack {name} has no templateFile")
    template_path = (cdk_out / template_file).resolve()
    if not template_path.is_relative_to(cdk_out.resolve()):
        raise AssemblyError(f"stack {name}: templateFile {template_file!r} is outside the cloud assembly")
    s3_url = https_url = None
    if properties.get("stackTemplateAssetObjectUrl"):
        s3_url = substitute(str(properties["stackTemplateAssetObjectUrl"]), account=account, region=region)
        https_url = https_template_url(s3_url, region)
    return Stack(
        artifact_id=artifact_id,
        name=name,
        account=account,
        region=region,
        template_path=template_path,
        template_url=https_url,
        template_s3_url=s3_url,
        tags=_string_map(name, "tags", properties.get("tags")),
        parameters=_string_map(name, "parameters", properties.get("parameters")),
        termination_protection=bool(properties.get("terminationProtection", False)),
    )


def _string_map(stack: str, what: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, list):  # older assemblies: [{"key": ..., "value": ...}]
        try:
            return {str(item["key"]): str(item["value"]) for item in value}
        except (KeyError, TypeError):
            raise AssemblyError(f"stack {stack}: {what} is not a list of key/value pairs") from None
    if not isinstance(value, dict):
        raise AssemblyError(f"stack {stack}: {what} is not an object")
    return {str(k): str(v) for k, v in value.items()}


def _with_dependencies(stack: Stack, dependencies: tuple[str, ...]) -> Stack:
    return replace(stack, dependencies=dependencies)


def _topological(graph: dict[str, list[str]], names: dict[str, str]) -> list[str]:
    """Kahn's algorithm; ties keep manifest order, so the order is deterministic."""
    remaining = {node: set(deps) for node, deps in graph.items()}
    order: list[str] = []
    while remaining:
        ready = [node for node in graph if node in remaining and not remaining[node]]
        if not ready:
            raise AssemblyError("dependency cycle: " + " -> ".join(names[n] for n in _find_cycle(remaining)))
        node = ready[0]
        order.append(node)
        del remaining[node]
        for deps in remaining.values():
            deps.discard(node)
    return order


def _find_cycle(remaining: dict[str, set[str]]) -> list[str]:
    """A cycle among nodes that all still have unmet dependencies (one always exists)."""
    node = next(iter(sorted(remaining)))
    path: list[str] = []
    seen: dict[str, int] = {}
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = sorted(remaining[node])[0]
    return path[seen[node] :] + [node]


def stack_names(stacks: Iterable[Stack]) -> list[str]:
    return [s.name for s in stacks]
