"""What a Lambda handler receives as its context when the emulator invokes it in-process."""

from __future__ import annotations

import sys

from devtools.emulator.program import REGION, TOOLS


class LambdaContext:
    def __init__(self, name: str) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{TOOLS}:function:{name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = "req-1"
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def log_to_current_stdout() -> None:
    """Lambda gives a function one stdout for its life; in-process, pytest swaps `sys.stdout` per test
    (capsys) and the CLI's tests redirect it, so the shared Powertools logger would keep writing to an
    earlier test's closed stream, or into a command's captured output."""
    import logging

    for handler in logging.getLogger("cdk-control-plane").handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            # the process's own stdout (pytest captures it at the file descriptor), never a swapped one; not
            # setStream: it flushes the old stream, which may be closed
            handler.stream = sys.__stdout__
