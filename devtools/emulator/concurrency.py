"""Bridges for executions that run at the same time (moto runs each execution in its own thread), where
moto differs from AWS. Never the product: the product relies on AWS's semantics, stated here.

- DynamoDB: `TransactWriteItems` is atomic and isolated (serializable against standard writes and
  `GetItem`). moto applies a transaction item by item and, when one fails, restores a deep copy of the
  whole table taken before: right in one thread, but another thread's write in between is lost on the
  restore, and a reader sees a half-applied transaction. `serialise_dynamodb` makes moto's item reads
  and writes one at a time, which is what DynamoDB's isolation guarantees to a caller.
- `$$.State.EnteredTime`: moto writes Python's `isoformat()` (`...T15:16:14.123456+00:00`); Step
  Functions writes `2026-11-25T15:16:14.123Z`. The lock's expiry is compared with it as a string.
"""

from __future__ import annotations

import functools
import threading
from datetime import datetime
from typing import Any

DYNAMODB_ITEM_OPERATIONS = ("get_item", "put_item", "update_item", "delete_item", "transact_write_items")


def serialise_dynamodb(monkeypatch: Any) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    one_at_a_time = threading.RLock()  # re-entrant: a transaction calls update_item itself

    def serialised(operation: Any) -> Any:
        @functools.wraps(operation)
        def call(*args: Any, **kwargs: Any) -> Any:
            with one_at_a_time:
                return operation(*args, **kwargs)

        return call

    for name in DYNAMODB_ITEM_OPERATIONS:
        monkeypatch.setattr(DynamoDBBackend, name, serialised(getattr(DynamoDBBackend, name)))


def step_functions_entered_time(monkeypatch: Any) -> None:
    from moto.stepfunctions.parser.asl.component.state import state

    original = state.StateData

    def state_data(EnteredTime: str, Name: str) -> Any:  # noqa: N803 (the context object's field names)
        entered = datetime.fromisoformat(EnteredTime)
        return original(
            EnteredTime=entered.strftime("%Y-%m-%dT%H:%M:%S.") + f"{entered.microsecond // 1000:03d}Z", Name=Name
        )

    monkeypatch.setattr(state, "StateData", state_data)
