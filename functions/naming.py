"""Deterministic physical names shared by the tools, stage and prod stacks.

Stacks never read each other's outputs: the tools stack grants `sts:AssumeRole` on roles that the
stage and prod stacks create, and those roles trust roles the tools stack creates. Both sides compute
the names here, so there is no dependency cycle between stacks and no cross-stack reference to break.
Pure functions only: no Pulumi, no AWS calls. It lives in `functions/` because the code that runs in AWS
needs the same names; `components/` imports it from here (never the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass

IAM_ROLE_NAME_MAX = 64

# Names the spec fixes for the tools account.
CI_BUILDER_ROLE = "cdk-ci-artifact-builder"
CONTEXT_GENERATOR_ROLE = "cdk-context-generator"
METADATA_TABLE = "cdk-artifact-metadata"
CI_SIGNER_KEY_ALIAS = "alias/cdk-ci-artifact-signer"
CONTEXT_SIGNER_KEY_ALIAS = "alias/cdk-context-signer"
OVERRIDE_SIGNER_KEY_ALIAS = "alias/cdk-override-signer"
CONTEXTS_BUCKET_KEY_ALIAS = "alias/cdk-contexts-bucket-key"
ARTIFACTS_BUCKET_KEY_ALIAS = "alias/cdk-artifacts-bucket-key"
METADATA_KEY_ALIAS = "alias/cdk-artifact-metadata-key"

# Tools buckets (made globally unique by tools_bucket_name) and the exports prefix the spec names.
CANDIDATE_BUCKET = "cdk-artifacts-candidate"
RELEASE_BUCKET = "cdk-artifacts-release"
CONTEXTS_BUCKET = "cdk-contexts"
EXPORTS_BUCKET = "cdk-artifact-metadata-exports"
EXPORTS_PREFIX = "cdk-artifact-metadata-exports/"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"

# The CDK default synthesizer's bootstrap contract (`cdk bootstrap` template names).
CDK_BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/{qualifier}/version"


def role_arn(account_id: str, role_name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{role_name}"


def bucket_arn(bucket_name: str) -> str:
    return f"arn:aws:s3:::{bucket_name}"


def tools_bucket_name(kind: str, tools_account_id: str, region: str) -> str:
    """`cdk-artifacts-candidate`, `cdk-artifacts-release`, `cdk-contexts`, ... made globally unique."""
    return f"{kind}-{tools_account_id}-{region}"


def deployer_role_name(prefix: str, env: str) -> str:
    """The tools-account role the CodeBuild deployer runs as; one per environment, so a stage run
    holds no credentials that reach prod."""
    return f"{prefix}-deployer-{env}"


def finalizer_role_name(prefix: str) -> str:
    """The tools-account role of the finalizer Lambda (reads stacks through the read-only roles)."""
    return f"{prefix}-finalizer"


def function_role_name(prefix: str, function: str) -> str:
    """Roles of the pipeline's Lambda functions (validate, promote, override, ...)."""
    return f"{prefix}-fn-{function}"


def state_machine_role_name(prefix: str) -> str:
    return f"{prefix}-pipeline"


def orchestrator_role_arn_patterns(prefix: str, tools_account_id: str) -> list[str]:
    """Everything that may change metadata items: the state machine, its functions, the finalizer."""
    return [
        role_arn(tools_account_id, state_machine_role_name(prefix)),
        role_arn(tools_account_id, finalizer_role_name(prefix)),
        role_arn(tools_account_id, function_role_name(prefix, "*")),
    ]


def test_project_name(prefix: str, env: str) -> str:
    """The CodeBuild project (and role) running the services' tests: stage tests, prod smoke tests."""
    return f"{prefix}-tests-{env}" if env == "stage" else f"{prefix}-smoke-{env}"


def context_generator_project_name(prefix: str) -> str:
    return f"{prefix}-context-generator"


def external_id(prefix: str, tools_account_id: str, service: str, env: str) -> str:
    """`sts:ExternalId` the tools roles present to a service's roles.

    Not a secret: it binds each trust to one purpose, so a tools role that is tricked into assuming
    a role on someone else's behalf (the confused deputy) presents the wrong id.
    """
    return f"{prefix}:{tools_account_id}:{service}:{env}"


@dataclass(frozen=True)
class CdkBootstrapNames:
    """Names the CDK default synthesizer writes into `cdk.out` for one account and qualifier."""

    qualifier: str
    account_id: str
    region: str

    @property
    def asset_bucket(self) -> str:
        return f"cdk-{self.qualifier}-assets-{self.account_id}-{self.region}"

    @property
    def container_repository(self) -> str:
        return f"cdk-{self.qualifier}-container-assets-{self.account_id}-{self.region}"

    @property
    def file_publishing_role(self) -> str:
        return f"cdk-{self.qualifier}-file-publishing-role-{self.account_id}-{self.region}"

    @property
    def image_publishing_role(self) -> str:
        return f"cdk-{self.qualifier}-image-publishing-role-{self.account_id}-{self.region}"

    @property
    def lookup_role(self) -> str:
        return f"cdk-{self.qualifier}-lookup-role-{self.account_id}-{self.region}"

    @property
    def version_parameter(self) -> str:
        return CDK_BOOTSTRAP_VERSION_PARAMETER.format(qualifier=self.qualifier)


@dataclass(frozen=True)
class ServiceNames:
    """Names of one service's control-plane roles and stacks in one environment."""

    prefix: str
    service: str
    env: str

    @property
    def stack_prefix(self) -> str:
        """CloudFormation stacks of this service in this environment are named `{service}-{env}-*`."""
        return f"{self.service}-{self.env}-"

    @property
    def deploy_role(self) -> str:
        return f"{self.prefix}-{self.service}-{self.env}-deploy"

    @property
    def execution_role(self) -> str:
        return f"{self.prefix}-{self.service}-{self.env}-cfn-exec"

    @property
    def read_only_role(self) -> str:
        return f"{self.prefix}-{self.service}-{self.env}-readonly"

    def all_role_names(self) -> tuple[str, ...]:
        return (self.deploy_role, self.execution_role, self.read_only_role)

    def stack_arn_pattern(self, region: str, account_id: str) -> str:
        return f"arn:aws:cloudformation:{region}:{account_id}:stack/{self.stack_prefix}*/*"
