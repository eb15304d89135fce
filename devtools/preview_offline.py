"""Run the Pulumi program for one stack under mocks and write its resource graph as JSON.

    python -m devtools.preview_offline --stack stage [--out build/preview/stage.json]

No Pulumi CLI, no AWS credentials: the stack's `Pulumi.<stack>.yaml` is read the way the engine
would read it, the program runs against `pulumi.runtime.set_mocks`, and every registered resource is
written with its inputs resolved to plain JSON (policy documents are the JSON strings the provider
would receive). The output is what a reviewer reads before `pulumi up`; its shape is a contract:

    {"stack": "...", "resources": [{"type": "...", "name": "...", "inputs": {...}, "provider": "..."}],
     "exports": ["<the names of the stack's outputs>", ...]}

`provider` names the explicit provider resource a resource uses, or is null for the default provider.
Exit codes: 0 written; 2 invalid configuration (nothing is written); 1 the program failed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent


class PreviewError(Exception):
    """The stack cannot be previewed as configured (the message says which file and key)."""


class _GraphMocks:
    """Records every registration and answers with plausible physical ids and ARNs."""

    def __init__(self, region: str, default_account: str, default_provider_disabled: bool) -> None:
        self.region = region
        self.default_account = default_account
        self.default_provider_disabled = default_provider_disabled
        self.resources: list[dict[str, Any]] = []
        self.provider_accounts: dict[str, tuple[str, str]] = {}  # provider id -> (name, account)
        self.default_provider_users: list[str] = []

    def _account(self, provider_ref: str | None) -> tuple[str | None, str]:
        if not provider_ref:
            return None, self.default_account
        provider_id = provider_ref.split("::")[-1]
        return self.provider_accounts.get(provider_id, (provider_ref, self.default_account))

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        provider_name, account = self._account(args.provider)
        digest = hashlib.sha256(f"{args.typ}:{args.name}".encode()).hexdigest()
        physical_id = f"{args.name}-{digest[:8]}"
        state = dict(inputs)

        if args.typ.startswith("pulumi:providers:"):
            allowed = inputs.get("allowedAccountIds")
            if isinstance(allowed, str):
                allowed = json.loads(allowed)
            provider_account = (allowed or [self.default_account])[0]
            self.provider_accounts[physical_id] = (args.name, provider_account)
        elif args.custom and args.typ.startswith("aws:") and provider_name is None and self.default_provider_disabled:
            self.default_provider_users.append(f"{args.typ} {args.name}")

        if args.custom:
            state.update(self._computed(args.typ, inputs, account, digest, physical_id))
            record = {
                "type": args.typ,
                "name": args.name,
                "inputs": _plain(inputs),
                "provider": provider_name,
            }
        else:
            record = {"type": args.typ, "name": args.name, "inputs": _plain(inputs), "provider": None}
        self.resources.append(record)
        return physical_id, state

    def _computed(self, typ: str, inputs: dict[str, Any], account: str, digest: str, physical_id: str) -> dict:
        region = self.region
        if typ == "aws:iam/role:Role":
            name = inputs.get("name") or physical_id
            return {
                "name": name,
                "arn": f"arn:aws:iam::{account}:role/{name}",
                "uniqueId": f"AROA{digest[:17].upper()}",
            }
        if typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            host = str(inputs.get("url", "")).removeprefix("https://")
            return {"arn": f"arn:aws:iam::{account}:oidc-provider/{host}"}
        if typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or physical_id
            return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}", "id": bucket}
        if typ == "aws:kms/key:Key":
            key_id = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
            return {"keyId": key_id, "arn": f"arn:aws:kms:{region}:{account}:key/{key_id}"}
        if typ == "aws:ecr/repository:Repository":
            name = inputs.get("name") or physical_id
            return {
                "arn": f"arn:aws:ecr:{region}:{account}:repository/{name}",
                "repositoryUrl": f"{account}.dkr.ecr.{region}.amazonaws.com/{name}",
            }
        if typ == "aws:lambda/function:Function":
            name = inputs.get("name") or physical_id
            return {"name": name, "arn": f"arn:aws:lambda:{region}:{account}:function:{name}"}
        if typ == "aws:lambda/layerVersion:LayerVersion":
            return {"arn": f"arn:aws:lambda:{region}:{account}:layer:{inputs.get('layerName')}:1"}
        if typ == "aws:codebuild/project:Project":
            name = inputs.get("name") or physical_id
            return {"name": name, "arn": f"arn:aws:codebuild:{region}:{account}:project/{name}"}
        if typ == "aws:sfn/stateMachine:StateMachine":
            return {"arn": f"arn:aws:states:{region}:{account}:stateMachine:{inputs.get('name')}"}
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            return {
                "name": inputs.get("name"),
                "arn": f"arn:aws:logs:{region}:{account}:log-group:{inputs.get('name')}",
            }
        if typ == "aws:sqs/queue:Queue":
            name = inputs.get("name") or physical_id
            return {
                "arn": f"arn:aws:sqs:{region}:{account}:{name}",
                "url": f"https://sqs.{region}.amazonaws.com/{account}/{name}",
            }
        if typ == "aws:sns/topic:Topic":
            return {"arn": f"arn:aws:sns:{region}:{account}:{inputs.get('name')}"}
        if typ == "aws:cloudwatch/eventRule:EventRule":
            return {"name": physical_id, "arn": f"arn:aws:events:{region}:{account}:rule/{physical_id}"}
        if typ == "aws:cloudwatch/eventBus:EventBus":
            return {"arn": f"arn:aws:events:{region}:{account}:event-bus/{inputs.get('name')}"}
        if typ == "aws:s3/bucketObjectv2:BucketObjectv2":
            return {"key": inputs.get("key")}
        if typ == "aws:dynamodb/table:Table":
            name = inputs.get("name") or physical_id
            return {"name": name, "arn": f"arn:aws:dynamodb:{region}:{account}:table/{name}"}
        if typ == "aws:iam/rolePolicy:RolePolicy":
            return {"name": inputs.get("name") or physical_id}
        if typ == "aws:cloudtrail/eventDataStore:EventDataStore":
            return {"arn": f"arn:aws:cloudtrail:{region}:{account}:eventdatastore/{digest[:8]}-{digest[8:12]}"}
        if typ == "aws:cloudcontrol/resource:Resource" and inputs.get("typeName") == "AWS::CloudTrail::Channel":
            # What Cloud Control reads back: the desired state and the channel's ARN (its primary identifier).
            channel = f"arn:aws:cloudtrail:{region}:{account}:channel/{digest[:8]}-{digest[8:12]}"
            return {"properties": json.dumps({**json.loads(inputs["desiredState"]), "ChannelArn": channel})}
        return {"arn": f"arn:aws:mock:{region}:{account}:{typ.split(':')[-1].lower()}/{physical_id}"}

    def call(self, args: Any) -> tuple[dict[str, Any], None]:
        raise RuntimeError(f"the program made a data-source call ({args.token}); previews must not read AWS")


_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value on the wire


def _plain(value: Any) -> Any:
    if isinstance(value, dict) and value.get(_SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
        return "[secret]"  # as `pulumi preview` shows it; the graph file must not leak secrets
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    import pulumi

    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        return {"file": os.path.relpath(value.path, PROJECT_DIR)}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": sorted(value.assets)}
    urn = getattr(value, "urn", None)
    return f"<resource {urn}>" if urn is not None else repr(value)


def run_preview(
    stack: str, project_dir: Path = PROJECT_DIR, registrations: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Validate the stack's config, run the program under mocks, return the graph document.

    `registrations`, if given, receives what the graph document leaves out of every registration: its
    parent's URN and its aliases (what a real `pulumi up` uses to find a moved resource's state)."""
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import settings
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

    from stack_config import disabled_default_providers, load_stack_config, read_stack_file

    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise PreviewError(f"no stack file {stack_file} (stacks: tools, stage, prod)")
    bag = read_stack_file(stack_file)
    # The loader enforces what `pulumi up` enforces (including the disabled default provider of stage
    # and prod stacks); it fails before any resource is declared.
    config = load_stack_config(bag, source=str(stack_file), project_dir=project_dir)
    disabled = disabled_default_providers(bag)

    class Mocks(pulumi_mocks.Mocks):
        def __init__(self) -> None:
            self.graph = _GraphMocks(config.region, config.tools_account_id, bool(disabled))

        def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
            return self.graph.new_resource(args)

        def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, None]:
            return self.graph.call(args)

    class Monitor(pulumi_mocks.MockMonitor):
        """Remembers the event loop each executor thread opens, so they can be closed in order."""

        def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
            super().__init__(mocks)
            self.thread_loops: set[asyncio.AbstractEventLoop] = set()

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method name)
            self.thread_loops.add(_ensure_event_loop())  # the loop the monitor is about to open or reuse
            if registrations is not None:
                registrations.append(_registration(request))
            return super().RegisterResource(request)

    os.environ["CDKCP_OFFLINE_PREVIEW"] = "1"  # the Lambda layer is built by `make lambda-layer` for real runs
    mocks = Mocks()
    monitor = Monitor(mocks)
    project = "cdk-control-plane"
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in bag.items()})
    settings.SETTINGS.outputs.clear()

    sys.path.insert(0, str(project_dir))
    _sync_await(run_pulumi_func(lambda: runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")))
    # The mock monitor runs in executor threads, and each opens an event loop that nothing closes. Left
    # to the garbage collector, a loop can be finalized after its own self-pipe socket and print a
    # traceback at exit; join the threads and close every loop while the interpreter is whole.
    loop = asyncio.get_event_loop()
    loop.run_until_complete(loop.shutdown_default_executor())
    for thread_loop in monitor.thread_loops | {loop}:
        thread_loop.close()

    if mocks.graph.default_provider_users:
        raise PreviewError(
            "these resources would use the disabled default AWS provider: "
            + ", ".join(mocks.graph.default_provider_users)
        )
    # the names `pulumi.export` gave the mocks' root stack (their values are Outputs, not written)
    exports = sorted(settings.get_root_resource().outputs)
    return {"stack": stack, "resources": mocks.graph.resources, "exports": exports}


def _registration(request: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return {
        "type": request.type,
        "name": request.name,
        "parent": request.parent,
        "aliases": [MessageToDict(alias) for alias in request.aliases],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="tools, stage or prod (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--out", type=Path, help="default: build/preview/<stack>.json")
    args = parser.parse_args(argv)

    from stack_config import ConfigError

    out = args.out or PROJECT_DIR / "build" / "preview" / f"{args.stack}.json"
    try:
        graph = run_preview(args.stack)
    except (ConfigError, PreviewError) as exc:
        print(f"preview-offline: {exc}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(graph, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    custom = [r for r in graph["resources"] if ":" in r["type"] and not _is_component(r["type"])]
    print(
        f"preview-offline: {args.stack}: {len(custom)} resources ({len(graph['resources'])} with components) -> {out}"
    )
    return 0


def _is_component(resource_type: str) -> bool:
    return resource_type.startswith("cdk-control-plane:")


if __name__ == "__main__":
    sys.exit(main())
