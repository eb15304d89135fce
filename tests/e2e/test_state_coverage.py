"""Every state of the definition the program deploys (every Catch target included) is entered by at
least one end-to-end scenario: a path no scenario takes is a path nobody has seen work.

Runs after the scenarios (pytest runs this module after `test_overrides.py`, `test_scenarios.py` and
`test_serialisation.py`)
and reads what their executions entered (`tests/e2e/conftest.py:ENTERED`); with only some scenarios
selected it is skipped.
"""

from __future__ import annotations

import pytest

from devtools.emulator.program import ProgramGraph
from tests.e2e import test_overrides, test_scenarios, test_serialisation
from tests.e2e.conftest import ENTERED


def test_every_state_is_entered_by_some_scenario(program: ProgramGraph) -> None:
    modules = (test_scenarios, test_serialisation, test_overrides)
    scenarios = {name for module in modules for name in dir(module) if name.startswith("test_")}
    if not scenarios <= set(ENTERED):
        pytest.skip(f"needs every scenario in this session; missing {sorted(scenarios - set(ENTERED))}")
    entered = set().union(*ENTERED.values())
    defined = set(program.definition["States"])
    assert defined - entered == set(), f"no scenario enters {sorted(defined - entered)}"
