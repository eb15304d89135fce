"""One rule for which AWS failures are answers about the artifact or its key (permanent: a refusal) and
which are ours to retry or fix (everything else: raised)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

from functions.artifacts.errors import aws_error_code, is_permanent_aws_error


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "stubbed"}}, "Operation")


@pytest.mark.parametrize(
    "code", ["NoSuchKey", "404", "NotFoundException", "DisabledException", "KMSInvalidStateException"]
)
def test_answers_about_the_object_or_key_are_permanent(code: str) -> None:
    assert is_permanent_aws_error(_client_error(code)) and aws_error_code(_client_error(code)) == code


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "SlowDown",
        "InternalError",
        "InternalFailure",
        "KMSInternalException",
        "ServiceUnavailable",
        "AccessDenied",
        "AccessDeniedException",
        "RequestTimeout",
    ],
)
def test_throttling_5xx_and_denials_are_not(code: str) -> None:
    assert not is_permanent_aws_error(_client_error(code))


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://kms.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
        NoCredentialsError(),
        RuntimeError("not an AWS error at all"),
    ],
)
def test_errors_without_an_aws_answer_are_not(error: Exception) -> None:
    assert aws_error_code(error) is None and not is_permanent_aws_error(error)
