"""What the stage test and prod smoke CodeBuild projects run: `python -m functions.deployer.test_runner`.

The service's repository (SERVICE_REPOSITORIES) and its test command for the environment
(TEST_COMMANDS) come from the project's `BuildSettings`; the service, commit and environment from the
run's `RunVariables`. The runner checks out the service's repository at the deployed commit and runs
the command there with bash; the build fails when any step does.

Exit codes: the failing git step's or the test command's own, 2 for a misconfigured build (a variable
missing or wrong, named on stderr). Imports nothing outside the standard library and this project: the
test image installs nothing else.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from functions.pipeline.settings import BuildSettings, SettingsError

from .errors import EXIT_USAGE
from .request import RunVariables

GITHUB = "https://github.com"
CHECKOUT = "service"  # the checkout's directory, in the build's working directory

Runner = Callable[..., subprocess.CompletedProcess]


@dataclass(frozen=True)
class TestPlan:
    """One service's tests (stage) or smoke tests (prod), at one commit."""

    __test__ = False  # not a pytest class

    service: str
    environment: str
    commit_sha: str
    repository: str  # owner/name on GitHub
    command: str  # run with `bash -c` at the root of the checkout

    @classmethod
    def of(cls, settings: BuildSettings, variables: RunVariables) -> TestPlan:
        service, environment = variables.service, variables.environment
        repository = settings.service_repositories.get(service)
        if not repository:
            raise SettingsError(f"environment variable SERVICE_REPOSITORIES has no repository for {service!r}")
        command = (settings.test_commands.get(service) or {}).get(environment)
        if not command:
            raise SettingsError(f"environment variable TEST_COMMANDS has no {environment} command for {service!r}")
        return cls(service, environment.value, variables.commit_sha, repository, command)

    def steps(self, checkout: Path, host: str = GITHUB) -> list[Sequence[str]]:
        """The git commands that check the commit out into `checkout` (a shallow fetch of that commit)."""
        url, directory = f"{host}/{self.repository}.git", str(checkout)
        return [
            ["git", "init", "--quiet", directory],
            ["git", "-C", directory, "fetch", "--quiet", "--depth", "1", url, self.commit_sha],
            ["git", "-C", directory, "checkout", "--quiet", "FETCH_HEAD"],
        ]


def execute(plan: TestPlan, workdir: Path, *, host: str = GITHUB, runner: Runner = subprocess.run) -> int:
    """Check the commit out under `workdir` and run the test command there; its exit code."""
    checkout = workdir / CHECKOUT
    for step in plan.steps(checkout, host):
        code = runner(step).returncode
        if code != 0:
            print(f"test_runner: `{' '.join(step)}` exited {code}", file=sys.stderr)
            return code
    print(f"running the {plan.environment} tests of {plan.service}@{plan.commit_sha}: {plan.command}", flush=True)
    return runner(["bash", "-c", plan.command], cwd=checkout).returncode


def main(
    environ: Mapping[str, str] | None = None,
    *,
    workdir: Path | None = None,
    host: str = GITHUB,
    runner: Runner = subprocess.run,
) -> int:
    try:
        plan = TestPlan.of(BuildSettings.from_environ(environ), RunVariables.from_environ(environ))
    except SettingsError as exc:
        print(f"test_runner: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return execute(plan, workdir or Path.cwd(), host=host, runner=runner)


if __name__ == "__main__":
    sys.exit(main())
