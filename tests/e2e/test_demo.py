"""`make demo` (the README's run command) succeeds and shows the promotion, the rollback and the audit chain."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT_DIR


def test_demo_promotes_and_rolls_back_on_its_own() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "devtools.demo"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300
    )
    output = completed.stdout
    assert completed.returncode == 0, output[-3000:] + completed.stderr[-3000:]
    assert "event ArtifactPromoted" in output and "event RollbackSucceeded" in output
    assert "RollbackDeploy" in output and "status rollback_succeeded" in output
    assert "\n  FAIL " not in output and output.count("\n  ok   ") == 8 and "demo succeeded in" in output
    # It ends with the audit chain: verified, then an edited entry caught at its position.
    assert "artifactctl audit verify -> exit 0:\n    OK: depth " in output and "agree with the chain" in output
    assert "artifactctl audit verify -> exit 1:\n    FAIL audit chain seq " in output and " edited: " in output
