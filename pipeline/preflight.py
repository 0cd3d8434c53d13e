"""Checks before the pipeline starts: can we reach the endpoint, sign, and see the bucket?

Each failure is a UsageError with one line that says what to fix (exit code 2).
"""

from __future__ import annotations

import botocore.exceptions

from pipeline.config import Endpoint
from pipeline.errors import UsageError
from pipeline.transport.boto import make_client
from pipeline.transport.credentials import botocore_credentials


def check_bucket(
    endpoint: Endpoint, bucket: str, ca_bundle: str | None, profile: str | None = None
) -> None:
    """HEAD the bucket with the credentials boto3 finds."""
    botocore_credentials(profile)
    client = make_client(endpoint, ca_bundle, profile, max_attempts=2)
    try:
        client.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as e:
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        headers = e.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        if status == 404:
            raise UsageError(f"bucket {bucket!r} does not exist at {endpoint.url}") from e
        if status == 403:
            raise UsageError(
                f"access to bucket {bucket!r} denied: check the credentials and their rights"
            ) from e
        if status in (301, 400) and headers.get("x-amz-bucket-region"):
            raise UsageError(
                f"bucket {bucket!r} is in region {headers['x-amz-bucket-region']}; "
                f"use --region {headers['x-amz-bucket-region']}"
            ) from e
        raise UsageError(f"cannot use bucket {bucket!r}: HTTP {status} {e}") from e
    except botocore.exceptions.SSLError as e:
        raise UsageError(
            f"TLS certificate check of {endpoint.url} failed (for a private CA, pass "
            f"--ca-bundle FILE): {e}"
        ) from e
    except (
        botocore.exceptions.EndpointConnectionError,
        botocore.exceptions.ConnectTimeoutError,
        botocore.exceptions.ReadTimeoutError,
        botocore.exceptions.ConnectionClosedError,
    ) as e:
        raise UsageError(f"cannot reach {endpoint.url}: {e}") from e
    except botocore.exceptions.BotoCoreError as e:
        raise UsageError(f"cannot use bucket {bucket!r}: {e}") from e
