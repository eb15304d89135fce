"""What a Lambda handler receives as its context when the emulator invokes it in-process."""

from __future__ import annotations

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
