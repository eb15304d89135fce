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

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from functions import naming
from functions.pipeline.lifecycle import DEFAULT_MAX_ATTEMPTS, DEFAULT_NEVER_PROMOTED_DAYS, Environment
from stack_config.alarms import AlarmThresholds
from stack_config.audit import AnchorRetention
from stack_config.scopes import refuse_tools_only

# --- scalar types -----------------------------------------------------------------------------------


def _matching(pattern: str, expectation: str, max_length: int | None = None) -> AfterValidator:
    """A string check whose error says what was expected in words, not as a regular expression."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value) or (max_length is not None and len(value) > max_length):
            raise ValueError(f"expected {expectation}")
        return value

    return AfterValidator(check)


AccountId = Annotated[str, _matching(r"\d{12}", "a 12-digit AWS account id (quote it in YAML)")]

# The intersection of what IAM role names, S3 bucket names and CloudFormation stack names accept:
# lowercase letters, digits and single hyphens, starting with a letter. The length bound is the one that
# keeps every pipeline execution name (`{service}-{commit40}-{env}-{attempt}`) within Step Functions'
# 80 characters (`naming.SERVICE_NAME_MAX`); with a prefix of at most 12 characters every derived role
# name stays within IAM's 64 too (tests/stack_config/test_config_validation.py).
_NAME = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
ServiceName = Annotated[
    str,
    _matching(
        _NAME,
        f"2-{naming.SERVICE_NAME_MAX} lowercase letters, digits and single hyphens, starting with a letter "
        "(it becomes part of IAM role, S3 bucket and CloudFormation stack names, and of pipeline execution "
        f"names, which Step Functions limits to {naming.EXECUTION_NAME_MAX} characters)",
        max_length=naming.SERVICE_NAME_MAX,
    ),
    StringConstraints(min_length=2),
]
NamePrefix = Annotated[str, _matching(_NAME, "at most 12 lowercase letters, digits and single hyphens", max_length=12)]

# `cdk bootstrap --qualifier`: CDK accepts at most 10 alphanumeric characters.
CdkQualifier = Annotated[str, _matching(r"[a-z0-9]{1,10}", "1-10 lowercase letters or digits (CDK qualifier)")]

GithubRepository = Annotated[
    str,
    _matching(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}", "owner/name of a GitHub repository"),
]
# Lengths bounded so that the longest CI trust policy stays within IAM's 2,048 characters
# (tests/program/test_size_quotas.py).
WORKFLOW_PATH_MAX = 200
GithubWorkflowPath = Annotated[
    str,
    _matching(
        r"\.github/workflows/[A-Za-z0-9._/-]+\.ya?ml",
        f"a path like .github/workflows/release.yml (at most {WORKFLOW_PATH_MAX} characters)",
        max_length=WORKFLOW_PATH_MAX,
    ),
]
# A reusable workflow as GitHub's `job_workflow_ref` claim names it: owner/repo/path@ref.
GithubWorkflowRef = Annotated[
    str,
    _matching(
        r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}/\.github/workflows/[A-Za-z0-9._/-]+\.ya?ml"
        r"@refs/(?:heads|tags)/[A-Za-z0-9._/-]{1,100}",
        "owner/repo/.github/workflows/<file>.yml@refs/heads/<branch> (or @refs/tags/<tag>), "
        "as GitHub's job_workflow_ref claim names a reusable workflow",
        max_length=500,
    ),
]
IamRoleName = Annotated[str, _matching(r"[A-Za-z0-9_+=,.@-]{1,64}", "an IAM role name (1-64 characters)")]
IamRoleArn = Annotated[
    str,
    _matching(
        r"arn:aws:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]+",
        "an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
    ),
]
ManagedPolicyArn = Annotated[
    str,
    _matching(
        r"arn:aws:iam::(aws|\d{12}):policy/[A-Za-z0-9_+=,.@/-]+",
        "a managed policy ARN (arn:aws:iam::<account or aws>:policy/<name>)",
    ),
]
S3BucketName = Annotated[
    str,
    _matching(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name (3-63 lowercase letters, digits, . and -)"),
]
EcrRepositoryName = Annotated[
    str,
    _matching(
        r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*",
        "an ECR repository name (lowercase, digits, . _ - and /)",
        max_length=256,
    ),
]
Region = Annotated[str, _matching(r"[a-z]{2}(-gov)?-[a-z]+-\d", "an AWS region name such as us-east-1")]
OidcProviderArn = Annotated[
    str,
    _matching(
        r"arn:aws:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com",
        "the ARN of the account's GitHub OIDC provider",
    ),
]
CdkVersion = Annotated[str, _matching(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?", "a CDK CLI version such as 2.1148.1")]
GitBranch = Annotated[str, _matching(r"[A-Za-z0-9._/-]{1,100}", "a branch name such as main")]

_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"expected an e-mail address like security-audit@example.com, got {value!r}")
    return value


EmailAddress = Annotated[str, AfterValidator(_email)]

ADMINISTRATOR_ACCESS_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"


def admin_equivalent(policy_arn: str) -> bool:
    """AWS managed policies that grant everything, or IAM (which grants everything by escalation)."""
    name = policy_arn.rsplit(":policy/", 1)[-1] if policy_arn.startswith("arn:aws:iam::aws:policy/") else ""
    return name in ("AdministratorAccess", "IAMFullAccess", "job-function/SystemAdministrator") or name.startswith(
        "AdministratorAccess-"
    )


class AccountRole(StrEnum):
    """Which kind of account a stack deploys into: the tools account, or a service `Environment`."""

    TOOLS = "tools"
    STAGE = "stage"
    PROD = "prod"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="forbid", frozen=True)


# --- per-service ------------------------------------------------------------------------------------


class ServiceEnvironment(_Model):
    """One service in one environment (its stage or prod account)."""

    account_id: AccountId
    region: Region | None = Field(
        default=None, description="optional; if given it must equal the stack's single region"
    )
    admin_role_arn: IamRoleArn | None = Field(
        default=None,
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
    test_command: str = Field(
        min_length=1,
        max_length=2000,
        description="shell command CodeBuild runs after the deploy: integration tests (stage), smoke tests (prod)",
    )
    stack_policy_file: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_./-]+\.json$",
        description="CloudFormation stack policy (JSON file in this repository) applied to every stack",
    )

    @model_validator(mode="after")
    def _admin_access_needs_boundary(self) -> ServiceEnvironment:
        admin = [arn for arn in self.execution_policy_arns if admin_equivalent(arn)]
        if admin and not self.permissions_boundary_arn:
            raise ValueError(
                f"executionPolicyArns contains {admin[0].rsplit('/', 1)[-1]} (admin-equivalent) without "
                "permissionsBoundaryArn: give the CloudFormation execution role the policies its stacks need, "
                "or bound it"
            )
        boundary = self.permissions_boundary_arn
        if boundary and admin_equivalent(boundary):
            raise ValueError(f"permissionsBoundaryArn {boundary} is admin-equivalent: it bounds nothing")
        if boundary and boundary.split(":")[4] not in ("aws", self.account_id):
            raise ValueError(
                f"permissionsBoundaryArn {boundary} is not a policy of this account ({self.account_id}) or of AWS"
            )
        return self


class Service(_Model):
    name: ServiceName
    github_repository: GithubRepository = Field(description="owner/name of the repository CI builds from")
    github_workflow: GithubWorkflowPath = Field(
        description="the workflow file CI publishes from, bound into the CI role's trust (the repository's "
        "OIDC subject must include job_workflow_ref, see README)",
    )
    cdk_qualifier: CdkQualifier = "hnb659fds"
    context_lookups: bool = Field(
        description="required: true when the app makes CDK lookups (Validate then requires the manifest's "
        "cdk_context_hash to be the service's blessed context), false when it makes none (the hash must be null)",
    )
    stage: ServiceEnvironment
    prod: ServiceEnvironment

    def environment(self, env: Environment | str) -> ServiceEnvironment:
        try:
            return {Environment.STAGE: self.stage, Environment.PROD: self.prod}[Environment(env)]
        except ValueError:
            raise ValueError(f"services have no {env!r} environment, only {[e.value for e in Environment]}") from None


class GithubSettings(_Model):
    existing_oidc_provider_arn: OidcProviderArn | None = Field(
        default=None,
        description="an account holds one provider per URL; name the existing one instead of creating it",
    )
    branch: GitBranch = "main"
    release_workflow: GithubWorkflowRef | None = Field(
        default=None,
        description="a central reusable workflow every service's release job calls; when set, each CI role "
        "accepts this job_workflow_ref instead of the service's own githubWorkflow",
    )


class ObjectLock(_Model):
    """Default Object Lock retention of the contexts bucket (regulatory immutability)."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"
    days: int = Field(ge=1, le=36500)


# --- the stack --------------------------------------------------------------------------------------


class MaxAttempts(_Model):
    """The sweeper's attempts of one artifact per environment, before it is parked for a human."""

    stage: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, le=10)
    prod: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, le=10)


class StackConfig(_Model):
    """Everything under the `cdk-control-plane:` namespace of a stack file."""

    account_role: AccountRole
    region: Region = "us-east-1"
    name_prefix: NamePrefix = "cdkcp"
    tools_account_id: AccountId
    account_admin_role_name: IamRoleName = "OrganizationAccountAccessRole"
    protect_stateful_resources: bool = True
    audit_email_addresses: list[EmailAddress] = Field(
        min_length=1, description="external inbox(es) the audit anchors are mailed to (mandatory)"
    )
    github: GithubSettings = Field(default_factory=GithubSettings)
    services: list[Service] = Field(min_length=1)
    operator_principal_arns: list[IamRoleArn] = Field(
        default_factory=list, description="roles of the on-call operators: sign override requests, read public keys"
    )
    security_automation_role_arn: IamRoleArn | None = Field(
        default=None, description="the only principal that may delete objects in the contexts and artifact buckets"
    )
    contexts_object_lock: ObjectLock | None = None
    audit_anchor_retention: AnchorRetention = Field(
        default_factory=AnchorRetention, description="Object Lock retention of the audit anchors (tools stack)"
    )
    audit_anchor_cloud_trail_lake: bool = Field(
        default=True, description="the anchors go to CloudTrail Lake too (tools stack; closed to new AWS customers)"
    )
    metadata_export_retention_days: int = Field(default=365, ge=180, description="spec: at least 180 days")
    max_rollback_attempts: int = Field(default=2, ge=1, le=10, description="spec: MAX_ROLLBACK_ATTEMPTS")
    max_attempts: MaxAttempts = Field(
        default_factory=MaxAttempts, description="the sweeper's attempts per environment (spec: sweeper)"
    )
    artifact_never_promoted_days: int = Field(
        default=DEFAULT_NEVER_PROMOTED_DAYS, ge=1, le=90, description="spec: ArtifactNeverPromoted"
    )
    approved_cdk_versions: list[CdkVersion] = Field(
        default_factory=list,
        description="CDK CLI versions the Validate step accepts; required in the tools stack (it fails closed)",
    )
    alert_email_addresses: list[EmailAddress] = Field(
        default_factory=list, description="subscribed to critical alerts; at least one in the tools stack"
    )
    log_retention_days: int = Field(default=90, ge=1)
    alarms: AlarmThresholds = Field(default_factory=AlarmThresholds, description="alarm thresholds (tools stack)")

    # --- cross-key checks ---

    @model_validator(mode="before")
    @classmethod
    def _no_single_ci_key_pin(cls, data: object) -> object:
        if isinstance(data, dict) and "ciSignerPublicKeyPem" in data:
            raise ValueError(
                "ciSignerPublicKeyPem is no longer read: each service signs with its own KMS key "
                f"({naming.ci_signer_alias('<service>')}) and the verifiers resolve it from the service; "
                "delete the key (README: signing keys)"
            )
        return data

    @model_validator(mode="after")
    def _one_region(self) -> StackConfig:
        for i, service in enumerate(self.services):
            for env in Environment:
                region = service.environment(env).region
                if region is not None and region != self.region:
                    raise ValueError(
                        f"services[{i}].{env.value}.region is {region!r}, but everything runs in the "
                        f"single configured region {self.region!r}"
                    )
        return self

    @model_validator(mode="after")
    def _validate_fails_closed(self) -> StackConfig:
        if self.account_role is AccountRole.TOOLS and not self.approved_cdk_versions:
            raise ValueError(
                "approvedCdkVersions is required in the tools stack: list the CDK CLI versions Validate accepts "
                "(an empty list would accept any)"
            )
        if self.account_role is AccountRole.TOOLS and not self.alert_email_addresses:
            raise ValueError(
                "alertEmailAddresses is required in the tools stack: at least one inbox for the critical-alerts "
                "topic (without one, its alarms and alerts reach nobody)"
            )
        return self

    @model_validator(mode="after")
    def _tools_only_settings(self) -> StackConfig:
        refuse_tools_only(self.account_role.value, self.model_fields_set)
        return self

    @model_validator(mode="after")
    def _unique_services(self) -> StackConfig:
        seen: dict[str, int] = {}
        for i, service in enumerate(self.services):
            if service.name in seen:
                raise ValueError(f"services[{i}].name {service.name!r} duplicates services[{seen[service.name]}].name")
            seen[service.name] = i
        return self

    @model_validator(mode="after")
    def _stack_prefixes_disjoint(self) -> StackConfig:
        # A service deploys (and its roles may change) every stack named `{service}-{env}-*`: `web` in
        # stage owns `web-stage-*`, which covers every stack of a service `web-stage` (`web-stage-stage-*`,
        # `web-stage-prod-*`). Refused in any environment pair, whatever the accounts: they may change.
        prefixes = [
            (naming.stack_prefix(service.name, env), i, env)
            for i, service in enumerate(self.services)
            for env in Environment
        ]
        for prefix, i, env in prefixes:
            for other, j, other_env in prefixes:
                if i != j and other.startswith(prefix):
                    raise ValueError(
                        f"services[{j}].name {self.services[j].name!r}: its {other_env.value} stacks ({other}*) are "
                        f"also stacks of services[{i}].name {self.services[i].name!r} in {env.value} ({prefix}*); "
                        "rename one so that no service's stack prefix covers another's"
                    )
        return self

    @model_validator(mode="after")
    def _services_clear_of_the_control_plane(self) -> StackConfig:
        # The execution role never passes a `{namePrefix}-*` role (the control plane's), and passes only
        # roles under the service's stack prefix: a service named like the prefix could pass neither.
        for i, service in enumerate(self.services):
            if f"{service.name}-".startswith(f"{self.name_prefix}-"):
                raise ValueError(
                    f"services[{i}].name {service.name!r} starts with namePrefix {self.name_prefix!r}: the roles its "
                    "stacks create would be named like the control plane's, which no stack may pass; rename one"
                )
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
            for env in Environment:
                key = (service.environment(env).account_id, service.cdk_qualifier)
                if key in seen:
                    raise ValueError(
                        f"services[{i}].cdkQualifier {service.cdk_qualifier!r} is already used by "
                        f"{seen[key]} in account {key[0]}: services sharing an account need distinct qualifiers"
                    )
                seen[key] = f"services[{i}] ({service.name})"
        return self

    # --- derived views ---

    @property
    def environment(self) -> Environment:
        """The environment a stage or prod stack deploys (the tools stack has none)."""
        if self.account_role is AccountRole.TOOLS:
            raise ValueError("the tools stack has no service environment")
        return Environment(self.account_role.value)

    @property
    def service_accounts(self) -> dict[str, dict[Environment, str]]:
        """service -> environment -> account id."""
        return {s.name: {e: s.environment(e).account_id for e in Environment} for s in self.services}

    def admin_role_arn(self, env: ServiceEnvironment) -> str:
        return env.admin_role_arn or f"arn:aws:iam::{env.account_id}:role/{self.account_admin_role_name}"
