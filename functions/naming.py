"""Deterministic physical names shared by the tools, stage and prod stacks, and the code they run.

Stacks never read each other's outputs: the tools stack grants `sts:AssumeRole` on roles the stage and
prod stacks create, which trust tools roles. Both sides compute the names here: no cycle between stacks.
Pure (no Pulumi, no AWS calls), in `functions/` because the code that runs in AWS and `artifactctl` need
the same names; `components/` imports it from here (never the other way round).

- `ToolsNames(prefix, account, region)`: every name and ARN of the tools account;
- `ServiceNames(prefix, service, env)`: one service's roles and stacks in one environment;
- `CdkBootstrapNames(qualifier, account_id, region)`: what the CDK default synthesizer expects;
- artifact object keys and pipeline execution names.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.pipeline.lifecycle import Environment

IAM_ROLE_NAME_MAX = 64

# Names the spec fixes for the tools account.
CI_BUILDER_ROLE = "cdk-ci-artifact-builder"  # one per service: `ci_builder_role(service)`
CONTEXT_GENERATOR_ROLE = "cdk-context-generator"
METADATA_TABLE = "cdk-artifact-metadata"
CI_SIGNER_KEY_ALIAS = "alias/cdk-ci-artifact-signer"  # one key per service: `ci_signer_alias(service)`
CONTEXT_SIGNER_KEY_ALIAS = "alias/cdk-context-signer"
OVERRIDE_SIGNER_KEY_ALIAS = "alias/cdk-override-signer"
CONTEXTS_BUCKET_KEY_ALIAS = "alias/cdk-contexts-bucket-key"
ARTIFACTS_BUCKET_KEY_ALIAS = "alias/cdk-artifacts-bucket-key"
METADATA_KEY_ALIAS = "alias/cdk-artifact-metadata-key"

# Tools buckets (made globally unique by `ToolsNames.bucket`) and the exports prefix the spec names.
CANDIDATE_BUCKET = "cdk-artifacts-candidate"
RELEASE_BUCKET = "cdk-artifacts-release"
CONTEXTS_BUCKET = "cdk-contexts"
EXPORTS_BUCKET = "cdk-artifact-metadata-exports"
EXPORTS_PREFIX = "cdk-artifact-metadata-exports/"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"

# The pipeline (spec: DeployArtifactPipeline, the custom event bus).
STATE_MACHINE = "DeployArtifactPipeline"
EVENT_BUS = "cdk-control-plane"
FUNCTIONS = ("transition", "validate", "promote", "rollback-plan", "finalizer", "dispatcher", "intake", "sweeper")
FUNCTIONS += ("anchor", "override")  # the audit chain's anchors every 10 minutes; signed operator requests
NOT_INVOKED_BY_RUNS = ("dispatcher", "intake", "sweeper", "anchor", "override")  # S3, schedules, operators

# CodeBuild projects are `{prefix}-{kind}-{environment}`: a deployer per environment, and the services'
# tests after each deploy (integration tests on stage, smoke tests on prod).
DEPLOYER = "deployer"
TEST_KIND = {Environment.STAGE: "tests", Environment.PROD: "smoke"}

# The CDK default synthesizer's bootstrap contract (`cdk bootstrap` template names).
CDK_BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/{qualifier}/version"

# Artifact objects in the candidate and release buckets: `{service}/{commit}/...`.
MANIFEST_NAME = "artifact-manifest.json"
PROVENANCE_NAME = "artifact-provenance.dsse.json"


def role_arn(account_id: str, role_name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{role_name}"


def bucket_arn(bucket_name: str) -> str:
    return f"arn:aws:s3:::{bucket_name}"


def ci_builder_role(service: str) -> str:
    """The service's own CI identity (GitHub OIDC): it publishes and signs that service's artifacts only."""
    return f"{CI_BUILDER_ROLE}-{service}"


def ci_signer_alias(service: str) -> str:
    """The service's own KMS signing key: a manifest of `service` verifies only with this key."""
    return f"{CI_SIGNER_KEY_ALIAS}-{service}"


CI_SIGNER_ALIAS_PATTERN = ci_signer_alias("*")  # every service's signing key (`kms:RequestAlias`)


ANY = "*"


def service_role_arn_pattern(prefix: str, environment: str, role: str) -> str:
    """One role (a `ServiceNames` attribute such as `deploy_role`) of every service in `environment`, in
    any account: what a tools role may assume stays one ARN however many services and accounts there
    are. Each of those roles trusts exactly one tools role with its own external id, and the tools side
    computes the account from its configuration, never from input."""
    return role_arn(ANY, getattr(ServiceNames(prefix, ANY, environment), role))


def bootstrap_role_arn_pattern(region: str, role: str) -> str:
    """One bootstrap role (a `CdkBootstrapNames` attribute such as `lookup_role`) of every qualifier and
    account in `region` (see `service_role_arn_pattern`)."""
    return role_arn(ANY, getattr(CdkBootstrapNames(ANY, ANY, region), role))


def artifact_prefix(service: str, commit: str) -> str:
    """Where one artifact's objects live in the candidate and release buckets."""
    return f"{service}/{commit}/"


# Step Functions: an execution's name has at most 80 characters. `{service}-{commit40}-{env}-{attempt}`: the
# longest environment, whole commit and highest attempt bound the service name (`SERVICE_NAME_MAX`).
EXECUTION_NAME_MAX = 80
COMMIT_SHA_LENGTH = 40
ATTEMPT_MAX = 999
_LONGEST_SUFFIX = len(f"-{'f' * COMMIT_SHA_LENGTH}-{max(Environment, key=len).value}-{ATTEMPT_MAX}")
SERVICE_NAME_MAX = EXECUTION_NAME_MAX - _LONGEST_SUFFIX


def execution_name(service: str, commit_sha: str, environment: str, attempt: int = 1) -> str:
    """Deterministic, so a duplicated trigger cannot start a second run (Step Functions refuses a
    name already used in the last 90 days); a retry is the next attempt. The whole commit: two commits
    sharing a prefix are two releases, never one run and a "duplicate"."""
    if len(commit_sha) != COMMIT_SHA_LENGTH:
        raise ValueError(
            f"execution names carry the whole commit: {commit_sha!r} is not {COMMIT_SHA_LENGTH} characters"
        )
    if not 1 <= attempt <= ATTEMPT_MAX:
        raise ValueError(f"attempt {attempt} of {service} {environment}: expected 1 to {ATTEMPT_MAX}")
    if len(service) > SERVICE_NAME_MAX:
        raise ValueError(
            f"service name {service!r} is longer than {SERVICE_NAME_MAX} characters: its execution names "
            f"would exceed Step Functions' {EXECUTION_NAME_MAX}"
        )
    return f"{service}-{commit_sha}-{Environment(environment).value}-{attempt}"


def external_id(prefix: str, tools_account_id: str, service: str, env: str) -> str:
    """`sts:ExternalId` the tools roles present to a service's roles.

    Not a secret: it binds each trust to one purpose, so a tools role that is tricked into assuming
    a role on someone else's behalf (the confused deputy) presents the wrong id.
    """
    return f"{prefix}:{tools_account_id}:{service}:{env}"


@dataclass(frozen=True)
class ToolsNames:
    """Every deterministic name and ARN of the tools account: buckets, table, keys, roles, the
    pipeline's functions, builds, state machine, bus, topic, queue and log groups."""

    prefix: str
    account: str
    region: str

    @property
    def root_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:root"

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    # --- buckets and the metadata table ---

    def bucket(self, kind: str) -> str:
        """`cdk-artifacts-candidate`, `cdk-artifacts-release`, `cdk-contexts`, ... made globally unique."""
        return f"{kind}-{self.account}-{self.region}"

    def bucket_arn(self, kind: str) -> str:
        return bucket_arn(self.bucket(kind))

    @property
    def candidate_bucket(self) -> str:
        return self.bucket(CANDIDATE_BUCKET)

    @property
    def release_bucket(self) -> str:
        return self.bucket(RELEASE_BUCKET)

    @property
    def contexts_bucket(self) -> str:
        return self.bucket(CONTEXTS_BUCKET)

    @property
    def exports_bucket(self) -> str:
        return self.bucket(EXPORTS_BUCKET)

    @property
    def tooling_bucket(self) -> str:
        """The CodeBuild projects' source bundle."""
        return self.bucket(f"{self.prefix}-tooling")

    def artifact_bucket(self, environment: Environment) -> str:
        """The bucket an environment deploys from: stage the candidates, prod the releases."""
        return self.candidate_bucket if Environment(environment) is Environment.STAGE else self.release_bucket

    @property
    def metadata_table(self) -> str:
        return METADATA_TABLE

    @property
    def metadata_table_arn(self) -> str:
        return self._arn("dynamodb", f"table/{METADATA_TABLE}")

    def table_arn(self, table: str) -> str:
        return self._arn("dynamodb", f"table/{table}")

    # --- KMS aliases of this control plane's own keys (the spec fixes the others, see above) ---

    @property
    def tooling_key_alias(self) -> str:
        return f"alias/{self.prefix}-tooling"

    @property
    def logs_key_alias(self) -> str:
        return f"alias/{self.prefix}-pipeline-logs"

    # --- roles ---

    def role_arn(self, role_name: str) -> str:
        return role_arn(self.account, role_name)

    def ci_builder_role_arn(self, service: str) -> str:
        """The service's own CI role (`ci_builder_role(service)`)."""
        return self.role_arn(ci_builder_role(service))

    @property
    def ci_builder_role_arn_pattern(self) -> str:
        """Every service's CI role, for resource policies that must stay one size however many services
        there are (`ArnLike` on `aws:PrincipalArn`); what each role may do is scoped by its own policy."""
        return self.role_arn(ci_builder_role("*"))

    @property
    def ci_signer_key_arn_pattern(self) -> str:
        """Every KMS key of this account; requested through `CI_SIGNER_ALIAS_PATTERN` (`kms:RequestAlias`),
        every service's signing key."""
        return self._arn("kms", "key/*")

    @property
    def context_generator_role_arn(self) -> str:
        return self.role_arn(CONTEXT_GENERATOR_ROLE)

    def deployer_role(self, environment: Environment) -> str:
        """The role the CodeBuild deployer runs as; one per environment, so a stage run holds no
        credentials that reach prod. Named as its project."""
        return self.deployer_project(environment)

    def deployer_role_arn(self, environment: Environment) -> str:
        return self.role_arn(self.deployer_role(environment))

    @property
    def deployer_role_arns(self) -> list[str]:
        return [self.deployer_role_arn(e) for e in Environment]

    def test_runner_role(self, environment: Environment) -> str:
        """The role of the CodeBuild project running the services' tests; named as its project."""
        return self.test_project(environment)

    def test_runner_role_arn(self, environment: Environment) -> str:
        return self.role_arn(self.test_runner_role(environment))

    @property
    def finalizer_role(self) -> str:
        """The finalizer's role name is the one the service accounts' read-only roles trust."""
        return f"{self.prefix}-finalizer"

    @property
    def finalizer_role_arn(self) -> str:
        return self.role_arn(self.finalizer_role)

    def function_role(self, function: str) -> str:
        """Roles of the pipeline's Lambda functions (validate, promote, override, ...)."""
        return self.finalizer_role if function == "finalizer" else f"{self.prefix}-fn-{function}"

    def function_role_arn(self, function: str) -> str:
        return self.role_arn(self.function_role(function))

    @property
    def state_machine_role(self) -> str:
        return f"{self.prefix}-pipeline"

    @property
    def exporter_role(self) -> str:
        """EventBridge Scheduler's role exporting the metadata table."""
        return f"{self.prefix}-metadata-export"

    @property
    def exporter_role_arn(self) -> str:
        return self.role_arn(self.exporter_role)

    @property
    def orchestrator_role_arn_patterns(self) -> list[str]:
        """Everything that may change metadata items: the state machine, its functions, the finalizer."""
        return [
            self.role_arn(self.state_machine_role),
            self.finalizer_role_arn,
            self.function_role_arn("*"),
        ]

    # --- Lambda functions ---

    def function_name(self, function: str) -> str:
        return f"{self.prefix}-{function}"

    def function_arn(self, function: str) -> str:
        return self._arn("lambda", f"function:{self.function_name(function)}")

    @property
    def layer_name(self) -> str:
        return f"{self.prefix}-pipeline-dependencies"

    # --- CodeBuild projects ---

    def project(self, kind: str, environment: Environment) -> str:
        """deployer-stage, deployer-prod, tests-stage, smoke-prod, under the prefix."""
        return f"{self.prefix}-{kind}-{environment}"

    def deployer_project(self, environment: Environment) -> str:
        return self.project(DEPLOYER, environment)

    def test_project(self, environment: Environment) -> str:
        return self.project(TEST_KIND[Environment(environment)], environment)

    def project_arn(self, project: str) -> str:
        """ARN of a project by its name (`deployer_project(...)`, `test_project(...)`, ...)."""
        return self._arn("codebuild", f"project/{project}")

    @property
    def context_generator_project(self) -> str:
        return f"{self.prefix}-context-generator"

    # --- state machine, events, alerts, dead letters ---

    @property
    def state_machine_name(self) -> str:
        return f"{self.prefix}-{STATE_MACHINE}"

    @property
    def state_machine_arn(self) -> str:
        return self._arn("states", f"stateMachine:{self.state_machine_name}")

    @property
    def event_bus_name(self) -> str:
        return EVENT_BUS

    @property
    def event_bus_arn(self) -> str:
        return self._arn("events", f"event-bus/{EVENT_BUS}")

    def event_rule_arn(self, rule: str) -> str:
        return self._arn("events", f"rule/{rule}")

    @property
    def alert_topic_name(self) -> str:
        return f"{self.prefix}-critical-alerts"

    @property
    def alert_topic_arn(self) -> str:
        return self._arn("sns", self.alert_topic_name)

    @property
    def dead_letter_queue_name(self) -> str:
        return f"{self.prefix}-functions-dlq"

    @property
    def dead_letter_queue_arn(self) -> str:
        return self._arn("sqs", self.dead_letter_queue_name)

    # --- log groups ---

    def log_group(self, kind: str, name: str) -> str:
        """`/aws/lambda/<function>`, `/aws/codebuild/<project>`."""
        return f"/aws/{kind}/{name}"

    def function_log_group(self, function: str) -> str:
        return self.log_group("lambda", self.function_name(function))

    def project_log_group(self, project: str) -> str:
        return self.log_group("codebuild", project)

    @property
    def state_machine_log_group(self) -> str:
        return f"/aws/vendedlogs/states/{self.state_machine_name}"

    def log_group_arn(self, group: str) -> str:
        return self._arn("logs", f"log-group:{group}")


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


def stack_prefix(service: str, environment: str) -> str:
    """CloudFormation stacks of a service in an environment are named `{service}-{env}-*`. The one place
    this rule is written: the deploy roles, the deployer and the finalizer use it."""
    return f"{service}-{environment}-"


@dataclass(frozen=True)
class ServiceNames:
    """Names of one service's control-plane roles and stacks in one environment."""

    prefix: str
    service: str
    env: str

    @property
    def stack_prefix(self) -> str:
        return stack_prefix(self.service, self.env)

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
