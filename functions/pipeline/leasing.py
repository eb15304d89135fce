"""Whether a run's lease would take an item the sweeper found waiting (the lease's guard, `lc.LEASE`; the
lock is the run's to wait for), and if not, why: an item no lease takes is parked for a person with that
reason (`lc.unleasable_parked`), never left in the sweep to be noted every 2 minutes for good."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import lifecycle as lc


def _why(clause: Any, item: Mapping[str, Any], environment: lc.Environment) -> str:
    if isinstance(clause, lc.AnyOf):
        return " and ".join(_why(inner, item, environment) for inner in clause.clauses)
    path = lc.env_path(clause.path, environment)
    return f"{path} is {lc.read(item, clause.path, environment)!r}"


def unleasable(item: Mapping[str, Any], environment: lc.Environment) -> str | None:
    """Why a run's lease would refuse the item (None: it would take it)."""
    guard = lc.transition(lc.Action.LEASE, environment).guard
    refused = [clause for clause in guard if not clause.holds(item, environment, lambda value: value)]
    return "; ".join(_why(clause, item, environment) for clause in refused) or None


def leasable(item: Mapping[str, Any], environment: lc.Environment) -> bool:
    return unleasable(item, environment) is None
