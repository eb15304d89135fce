"""Fixtures of the end-to-end tests: the program's own graph, moto with a real Step Functions
interpreter, and the harness."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.emulator.aws import use_fake_credentials
from devtools.emulator.cloudformation import install_cfn_bridges
from devtools.emulator.harness import Harness
from devtools.emulator.kms import make_kms_faithful
from devtools.emulator.program import ProgramGraph


@pytest.fixture(scope="session")
def program(tmp_path_factory: pytest.TempPathFactory) -> ProgramGraph:
    """The tools stack as the Pulumi program declares it (offline preview, mocks)."""
    return ProgramGraph.of_program(Path(tmp_path_factory.mktemp("e2e-program")))


@pytest.fixture
def pipeline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, program: ProgramGraph, request: pytest.FixtureRequest
) -> Iterator[Harness]:
    from moto import mock_aws

    use_fake_credentials(monkeypatch)
    make_kms_faithful(monkeypatch)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        cloudformation = install_cfn_bridges(monkeypatch)
        harness = Harness(monkeypatch, program, tmp_path)
        harness.cloudformation = cloudformation
        yield harness
    # What each scenario's executions went through, kept with the test's own files and collected for
    # the state-coverage check (tests/e2e/test_state_coverage.py).
    (tmp_path / "executions.json").write_text(json.dumps(harness.executions, indent=2) + "\n")
    entered = ENTERED.setdefault(request.node.originalname, set())  # a parametrized scenario's cases, together
    entered.update(state for _, states in harness.executions for state in states)


# test name -> the states its executions entered (this session)
ENTERED: dict[str, set[str]] = {}
