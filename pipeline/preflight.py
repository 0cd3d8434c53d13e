"""Checks before the pipeline starts: can we reach the endpoint, sign, and see the bucket?

Each failure is a UsageError with one line that says what to fix (exit code 2).
"""

from __future__ import annotations

import botocore.config
import botocore.exceptions
import botocore.session

from pipeline.config import Endpoint
from pipeline.errors import UsageError
from pipeline.transport.credentials import botocore_credentials

_CONNECT_TIMEOUT_S = 10


def check_bucket(endpoint: Endpoint, bucket: str) -> None:
    """HEAD the bucket with the credentials boto3 finds."""
    botocore_credentials()
    session = botocore.session.Session()
    client = session.create_client(
        "s3",
        region_name=endpoint.region,
        endpoint_url=endpoint.url,
        config=botocore.config.Config(
            connect_timeout=_CONNECT_TIMEOUT_S,
            read_timeout=30,
            retries={"max_attempts": 2, "mode": "standard"},
            s3={"addressing_style": "path" if endpoint.path_style else "virtual"},
        ),
    )
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
        raise UsageError(f"TLS handshake with {endpoint.url} failed: {e}") from e
    except (
        botocore.exceptions.EndpointConnectionError,
        botocore.exceptions.ConnectTimeoutError,
        botocore.exceptions.ReadTimeoutError,
        botocore.exceptions.ConnectionClosedError,
    ) as e:
        raise UsageError(f"cannot reach {endpoint.url}: {e}") from e
    except botocore.exceptions.BotoCoreError as e:
        raise UsageError(f"cannot use bucket {bucket!r}: {e}") from e
