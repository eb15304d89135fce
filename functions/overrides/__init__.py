"""Signed operator requests (spec: "Manual requeue or override", "Manual promotion/rollback", the
Solo-Operator Policy Control Matrix's CLI rows and break-glass): the request document, its signature and
verification (`request.py`, shared by `artifactctl override` and the orchestrator), which item state each
action applies to (`targets.py`), and how the orchestrator's `override` function applies one
(`apply.py`, `effects.py`): only through the lifecycle table and the state machine.
"""

# The break-glass flag (`on` / `off`) the override function reads; only the operators may change it.
BREAK_GLASS_PARAMETER = "/{prefix}/break-glass/enabled"


def break_glass_parameter(prefix: str) -> str:
    return BREAK_GLASS_PARAMETER.format(prefix=prefix)
