"""Turn a stack's flat config bag (`{"project:key": value}`) into a validated `StackConfig`.

`pulumi up` hands the program the bag; the offline preview and the tests build the same bag from the
stack YAML file with `read_stack_file`. Either way `load_stack_config` is the one entry point, and
every error names the full config key (`cdk-control-plane:services[1].prod.accountId`) and what was
expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from functions.pipeline.lifecycle import Environment

from .models import AccountRole, StackConfig

PROJECT = "cdk-control-plane"
DISABLE_DEFAULT_PROVIDERS = "pulumi:disable-default-providers"


class ConfigError(ValueError):
    """The stack configuration is invalid; the message lists every problem, one per line."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        where = f" in {source}" if source else ""
        super().__init__(f"invalid stack configuration{where}:\n" + "\n".join(f"  - {p}" for p in problems))


def _key_path(namespace: str, loc: tuple[Any, ...]) -> str:
    path = namespace
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += (":" if i == 0 else ".") + str(part)
    return path


# Keys that are required because no default is safe for everyone: the error says how to choose.
_MISSING_HINTS = {
    "contextLookups": " (true if the service's CDK app makes lookups such as Vpc.fromLookup: Validate then requires "
    "its blessed context; false if it makes none: the manifest's cdk_context_hash must then be null)",
}


def _describe(error: dict[str, Any], namespace: str) -> str:
    # Model validators raise with loc=() and already name their keys (relative to the namespace).
    if not error["loc"]:
        return f"{namespace}:{error['msg'].removeprefix('Value error, ')}"
    key = _key_path(namespace, error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key (check the spelling against the README's config reference)"
    if kind == "missing":
        hint = _MISSING_HINTS.get(str(error["loc"][-1]), "")
        return f"{key}: required key is missing{hint}"
    if kind == "string_type":
        return f"{key}: expected a string (quote numbers such as account ids in YAML), got {error.get('input')!r}"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) else f", got {got!r}"
    return f"{key}: {error['msg'].removeprefix('Value error, ')}{shown}"


def _decode(value: Any) -> Any:
    # The engine passes structured values as JSON strings; YAML-loaded values arrive decoded.
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def load_stack_config(bag: dict[str, Any], source: str | None = None, project_dir: Path | None = None) -> StackConfig:
    """Validate the project namespace of `bag`; cross-check the `aws:` keys that must agree with it and
    the files it names (relative to `project_dir`, the Pulumi project)."""
    prefix = f"{PROJECT}:"
    raw = {k[len(prefix) :]: _decode(v) for k, v in bag.items() if k.startswith(prefix)}
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(e, PROJECT) for e in exc.errors(include_url=False)]
        raise ConfigError(problems, source) from None

    problems = _aws_problems(config, bag) + _file_problems(config, project_dir or Path.cwd())
    if problems:
        raise ConfigError(problems, source)
    return config


def disabled_default_providers(bag: dict[str, Any]) -> list[str]:
    """The packages whose default provider the stack disables (`*` for all of them)."""
    return list(_decode(bag.get(DISABLE_DEFAULT_PROVIDERS)) or [])


def _aws_problems(config: StackConfig, bag: dict[str, Any]) -> list[str]:
    """The `aws:` and `pulumi:` keys that must agree with the project namespace."""
    problems: list[str] = []
    aws_region = bag.get("aws:region")
    if aws_region is not None and aws_region != config.region:
        problems.append(
            f"aws:region is {aws_region!r}, but {PROJECT}:region is {config.region!r}: "
            "everything runs in the single configured region"
        )
    if config.account_role is AccountRole.TOOLS:
        if aws_region is None:
            problems.append(f"aws:region: required for the tools stack (its default provider); use {config.region!r}")
        allowed = _decode(bag.get("aws:allowedAccountIds"))
        if allowed is not None and list(allowed) != [config.tools_account_id]:
            problems.append(
                f"aws:allowedAccountIds is {allowed!r}, expected [{config.tools_account_id!r}] "
                f"({PROJECT}:toolsAccountId)"
            )
    else:
        disabled = disabled_default_providers(bag)
        if "aws" not in disabled and "*" not in disabled:
            problems.append(
                f"{DISABLE_DEFAULT_PROVIDERS} must list aws for a {config.account_role.value} stack "
                f"(it lists {disabled!r}), so that no resource can fall back to the operator's credentials"
            )
    return problems


def _file_problems(config: StackConfig, project_dir: Path) -> list[str]:
    problems = []
    for i, service in enumerate(config.services):
        for env in Environment:
            relative = service.environment(env).stack_policy_file
            if relative is None:
                continue
            key = f"{PROJECT}:services[{i}].{env}.stackPolicyFile"
            path = (project_dir / relative).resolve()
            if not path.is_relative_to(project_dir.resolve()):
                problems.append(f"{key}: {relative} is outside the project")
                continue
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except OSError:
                problems.append(f"{key}: no file {relative} in the project")
                continue
            except ValueError as exc:
                problems.append(f"{key}: {relative} is not JSON ({exc})")
                continue
            if not isinstance(document, dict) or not isinstance(document.get("Statement"), list):
                problems.append(f"{key}: {relative} is not a stack policy (an object with a Statement list)")
            elif not document["Statement"]:
                problems.append(f"{key}: {relative} has an empty Statement list (CloudFormation refuses it)")
    return problems


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice is an error (YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # `<<: *anchor` merges first, as YAML's own loader does
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise yaml.constructor.ConstructorError(None, None, "a key must be a scalar", key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_stack_file(path: Path) -> dict[str, Any]:
    """The config bag of a `Pulumi.<stack>.yaml` file, as the engine would pass it."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except OSError as exc:
        raise ConfigError([f"cannot read {path}: {exc}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError([f"{where}: {getattr(exc, 'problem', None) or exc}"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise ConfigError([f"{path}: expected a mapping with a 'config:' mapping"])
    return dict(document.get("config") or {})
