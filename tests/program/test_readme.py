"""The README's configuration reference cannot silently fall behind the config models."""

from __future__ import annotations

from pydantic import BaseModel

from stack_config.models import GithubSettings, Service, ServiceEnvironment, StackConfig
from tests.conftest import PROJECT_DIR


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def test_every_config_key_is_in_the_readme_reference() -> None:
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    reference = readme[readme.index("## Configuration reference") :]
    documented = {
        **{f"`{k}`": k for k in _keys(StackConfig)},
        **{f"`github.{k}`": k for k in _keys(GithubSettings)},
        **{f"`services[].{k}`": k for k in _keys(Service) if k not in ("stage", "prod")},
        **{f"`…{k}`": k for k in _keys(ServiceEnvironment)},
    }
    missing = [cell for cell in documented if cell not in reference]
    assert missing == [], f"README config reference lacks {missing}"


def test_the_readme_diagram_and_counts_are_generated_from_the_declared_program(graphs) -> None:
    from devtools.diagram import render_readme

    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    current = render_readme(readme, graphs)
    assert readme == current, "the README's pipeline diagram or resource counts are stale: run `make diagram`"
    assert "RollbackWait([RollbackWait])" in readme and "-.->|Timeout| RecordTimedOut" in readme
