"""What the operators reach of the control plane (spec: the control matrix's CLI rows and break-glass):
the `override` function, invocable by the operator principals only, and the break-glass flag.

- Invocation: a Lambda permission (the function's resource policy) for each operator role, and no
  role of the control plane is granted `lambda:InvokeFunction` on it (the state machine invokes only
  the functions of a run, `naming.NOT_INVOKED_BY_RUNS`). An operator role in another account needs both
  this permission and its own identity policy; one in the tools account needs either, so an account
  administrator with `lambda:*` can invoke it too: what they cannot do is forge a signature.
- The flag `/{prefix}/break-glass/enabled` (`on` / `off`, declared `off`): an SSM parameter has no
  resource policy, so who may change it is decided by identity policies. No role of this program is
  granted a write on it (tests/program check every role), the override function's role denies itself
  every write, and the operators' own policies (outside this program) grant `ssm:PutParameter` on it.
  `pulumi up` declares it once and then leaves its value alone (`ignore_changes`): switching it is the
  operator's act, recorded by CloudTrail, and a stack update never flips it on or off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from functions import naming
from functions.overrides import break_glass_parameter

TYPE = "cdk-control-plane:pipeline:OperatorAccess"
BREAK_GLASS_OFF = "off"


@dataclass(frozen=True)
class OperatorAccessArgs:
    names: naming.ToolsNames
    override_function_name: pulumi.Input[str]
    operator_principal_arns: Sequence[str]


class OperatorAccess(pulumi.ComponentResource):
    break_glass_parameter: pulumi.Output[str]

    def __init__(self, name: str, args: OperatorAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        flag = aws.ssm.Parameter(
            f"{name}-break-glass",
            name=break_glass_parameter(args.names.prefix),
            type="String",
            # not a secret: `insecure_value` (`value` would be marked secret and hide the flag in previews)
            insecure_value=BREAK_GLASS_OFF,
            allowed_pattern="^(on|off)$",
            description="break-glass overrides (allow_drift, allow_older_build, lift_revocation): on or off; "
            "operators only",
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["insecureValue"]),
        )
        for index, principal in enumerate(args.operator_principal_arns):
            aws.lambda_.Permission(
                f"{name}-operator-{index}",
                action="lambda:InvokeFunction",
                function=args.override_function_name,
                principal=principal,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.break_glass_parameter = flag.name
        self.register_outputs({"break_glass_parameter": self.break_glass_parameter})
