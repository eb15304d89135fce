"""Bridge: JSONPath as Step Functions evaluates it. A definite path (no filter, wildcard, slice, deep scan
or union) names one value in Step Functions; moto's interpreter returns `[value]` when the path goes
through an array index (`$.a[0].b`), which the drift gate's and the deploy outcome's Choices read."""

from __future__ import annotations

import re
from typing import Any

INDEFINITE_PATH = re.compile(r"\?\(|\*|:|\.\.|,")  # filters, wildcards, slices, deep scans, unions


def definite_paths_name_one_value(monkeypatch: Any) -> None:
    """A definite JSONPath (no filter, wildcard, slice, deep scan or union) names one value, as in Step
    Functions; moto returns `[value]` when the path goes through an array index (`$.a[0].b`)."""
    from jsonpath_ng.ext import parse
    from moto.stepfunctions.parser.asl.component.common.string import string_expression

    original = string_expression.extract_json

    def extract_json(path: str, data: Any) -> Any:
        if not INDEFINITE_PATH.search(path):
            matches = parse(path).find(data)
            if len(matches) == 1:
                return matches[0].value
        return original(path, data)

    monkeypatch.setattr(string_expression, "extract_json", extract_json)
