"""Typed, validated configuration of one Pulumi stack of the control plane.

The whole project namespace of a stack file is one `StackConfig`. Every key is camelCase in YAML and
snake_case here; unknown keys are errors, so a typo never silently falls back to a default. Checks
that span several keys (an account reused across environments, name lengths, region pinning) live in
model validators, so a bad file fails before any resource is declared.

This module has no Pulumi import: it is used by the program, the offline preview and the tests.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components import naming

# --- scalar types -----------------------------------------------------------------------------------

AccountId = Annotated[
    str,
    StringConstraints(pattern=r"^\d{12}$"),
    Field(description="a 12-digit AWS account id, quoted in YAML so leading zeros survive"),
]

# The intersection of what IAM role names, S3 bucket names and CloudFormation stack names accept:
# lowercase letters, digits and single hyphens, starting with a letter. Length is checked against the
# longest derived name in StackConfig._derived_names_fit.
ServiceName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$", min_length=2, max_length=24),
]

NamePrefix = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$", max_length=12)]

# `cdk bootstrap --qualifier`: CDK accepts at most 10 alphanumeric characters.
CdkQualifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{1,10}$")]

GithubRepository = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$"),
]

GithubWorkflowPath = Annotated[
    str, StringConstraints(pattern=r"^\.github/workflows/[A-Za-z0-9._/-]+\.ya?ml$")
]

IamRoleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_+=,.@-]{1,64}$")]

ManagedPolicyArn = Annotated[
    str,
    StringConstraints(pattern=r"^arn:aws:iam::(aws|\d{12}):policy/[A-Za-z0-9_+=,.@/-]+$"),
]

S3BucketName = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9.-]{1,61})[a-z0-9]$")
]

EcrRepositoryName = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", max_length=256)
]

_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"expected an e-mail address like security-audit@example.com, got {value!r}")
    return value


EmailAddress = Annotated[str, AfterValidator(_email)]

ADMINISTRATOR_ACCESS_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"


class AccountRole(StrEnum):
    """Which kind of account a stack deploys into."""

    TOOLS = "tools"
    STAGE = "stage"
    PROD = "prod"


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=False, extra="forbid", frozen=True
    )


# --- per-service ------------------------------------------------------------------------------------


class ServiceEnvironment(_Model):
    """One service in one environment (its stage or prod account)."""

    account_id: AccountId
    region: str | None = Field(
        default=None, description="optional; if given it must equal the stack's single region"
    )
    admin_role_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]+$",
        description="role Pulumi assumes to manage this account; default: accountAdminRoleName in it",
    )
    execution_policy_arns: list[ManagedPolicyArn] = Field(
        min_length=1,
        description="managed policies of the CloudFormation execution role (what the stacks may create)",
    )
    permissions_boundary_arn: ManagedPolicyArn | None = None
    drift_detection_policy_arns: list[ManagedPolicyArn] = Field(
        default_factory=lambda: ["arn:aws:iam::aws:policy/SecurityAudit"],
        description="read policies that drift detection needs on the stacks' resources",
    )
    asset_bucket_name: S3BucketName | None = Field(
        default=None, description="default: the CDK default synthesizer's name"
    )
    container_repository_name: EcrRepositoryName | None = Field(
        default=None, description="default: the CDK default synthesizer's name"
    )

    @model_validator(mode="after")
    def _admin_access_needs_boundary(self) -> ServiceEnvironment:
        if ADMINISTRATOR_ACCESS_ARN in self.execution_policy_arns and not self.permissions_boundary_arn:
            raise ValueError(
                "executionPolicyArns contains AdministratorAccess without permissionsBoundaryArn: "
                "give the CloudFormation execution role the policies its stacks need, or bound it"
            )
        return self


class Service(_Model):
    name: ServiceName
    github_repository: GithubRepository = Field(description="owner/name of the repository CI builds from")
    github_workflow: GithubWorkflowPath | None = Field(
        default=None,
        description="bind CI to this workflow file (needs the repository's OIDC subject to include "
        "job_workflow_ref, see README)",
    )
    cdk_qualifier: CdkQualifier = "hnb659fds"
    stage: ServiceEnvironment
    prod: ServiceEnvironment

    def environment(self, env: AccountRole) -> ServiceEnvironment:
        if env is AccountRole.STAGE:
            return self.stage
        if env is AccountRole.PROD:
            return self.prod
        raise ValueError(f"services have no {env.value} environment")


class GithubSettings(_Model):
    existing_oidc_provider_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$",
        description="an account holds one provider per URL; name the existing one instead of creating it",
    )
    branch: str = Field(default="main", pattern=r"^[A-Za-z0-9._/-]{1,100}$")


# --- the stack --------------------------------------------------------------------------------------


class StackConfig(_Model):
    """Everything under the `cdk-control-plane:` namespace of a stack file."""

    account_role: AccountRole
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    name_prefix: NamePrefix = "cdkcp"
    tools_account_id: AccountId
    account_admin_role_name: IamRoleName = "OrganizationAccountAccessRole"
    protect_stateful_resources: bool = True
    audit_email_addresses: list[EmailAddress] = Field(
        min_length=1, description="external inbox(es) the audit anchors are mailed to (mandatory)"
    )
    github: GithubSettings = Field(default_factory=GithubSettings)
    services: list[Service] = Field(min_length=1)

    # --- cross-key checks ---

    @model_validator(mode="after")
    def _one_region(self) -> StackConfig:
        for i, service in enumerate(self.services):
            for env in (AccountRole.STAGE, AccountRole.PROD):
                region = service.environment(env).region
                if region is not None and region != self.region:
                    raise ValueError(
                        f"services[{i}].{env.value}.region is {region!r}, but everything runs in the "
                        f"single configured region {self.region!r}"
                    )
        return self

    @model_validator(mode="after")
    def _unique_services(self) -> StackConfig:
        seen: dict[str, int] = {}
        for i, service in enumerate(self.services):
            if service.name in seen:
                raise ValueError(
                    f"services[{i}].name {service.name!r} duplicates services[{seen[service.name]}].name"
                )
            seen[service.name] = i
        return self

    @model_validator(mode="after")
    def _accounts_separate(self) -> StackConfig:
        stage = {s.stage.account_id: f"services[{i}].stage.accountId" for i, s in enumerate(self.services)}
        prod = {s.prod.account_id: f"services[{i}].prod.accountId" for i, s in enumerate(self.services)}
        for account, key in {**stage, **prod}.items():
            if account == self.tools_account_id:
                raise ValueError(f"{key} is the tools account {account}: service accounts must differ from it")
        for account, key in prod.items():
            if account in stage:
                raise ValueError(
                    f"{key} {account} is also {stage[account]}: an account is either stage or prod, never both"
                )
        return self

    @model_validator(mode="after")
    def _bootstrap_names_unique(self) -> StackConfig:
        # Two services in one account share the account's bootstrap resources unless their
        # qualifiers differ, and the asset bucket / ECR / role names are derived from the qualifier.
        seen: dict[tuple[str, str], str] = {}
        for i, service in enumerate(self.services):
            for env in (AccountRole.STAGE, AccountRole.PROD):
                key = (service.environment(env).account_id, service.cdk_qualifier)
                if key in seen:
                    raise ValueError(
                        f"services[{i}].cdkQualifier {service.cdk_qualifier!r} is already used by "
                        f"{seen[key]} in account {key[0]}: services sharing an account need distinct qualifiers"
                    )
                seen[key] = f"services[{i}] ({service.name})"
        return self

    @model_validator(mode="after")
    def _derived_names_fit(self) -> StackConfig:
        for i, service in enumerate(self.services):
            for env in (AccountRole.STAGE, AccountRole.PROD):
                names = naming.ServiceNames(self.name_prefix, service.name, env.value)
                for role_name in names.all_role_names():
                    if len(role_name) > naming.IAM_ROLE_NAME_MAX:
                        raise ValueError(
                            f"services[{i}].name {service.name!r} with namePrefix {self.name_prefix!r} makes "
                            f"the IAM role name {role_name!r} ({len(role_name)} characters, IAM allows "
                            f"{naming.IAM_ROLE_NAME_MAX}); shorten the service name or the prefix"
                        )
        return self

    # --- derived views ---

    @property
    def environment(self) -> Literal["stage", "prod"]:
        if self.account_role is AccountRole.TOOLS:
            raise ValueError("the tools stack has no service environment")
        return self.account_role.value  # type: ignore[return-value]

    def admin_role_arn(self, env: ServiceEnvironment) -> str:
        return env.admin_role_arn or f"arn:aws:iam::{env.account_id}:role/{self.account_admin_role_name}"
