"""The botocore S3 client of a target: how every botocore client of the tool is configured
(the control plane's and the boto3 data plane's), in one place.

The endpoint, region, profile, addressing style and trust come from the target: TLS
certificates are always verified, against ``--ca-bundle`` when given, else the system's.
Retries, timeouts and the connection pool are what each caller needs.
"""

from __future__ import annotations

from typing import Any

import botocore.config
import botocore.session

from pipeline.options import RetryMode, TargetOptions

POOL_CONNECTIONS = 10  # botocore's own default: for one thread, or a few


def make_client(
    target: TargetOptions,
    *,
    retries: int,
    connect_timeout: float,
    read_timeout: float,
    retry_mode: RetryMode = RetryMode.STANDARD,
    pool_connections: int = POOL_CONNECTIONS,
) -> Any:
    """A botocore S3 client for ``target``; ``retries``: tries after the first."""
    endpoint = target.endpoint
    return botocore.session.Session(profile=target.profile).create_client(
        "s3",
        region_name=endpoint.region,
        endpoint_url=endpoint.url,
        verify=target.ca_bundle or True,
        config=botocore.config.Config(
            max_pool_connections=pool_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": retries + 1, "mode": retry_mode.value},
            s3={"addressing_style": "path" if endpoint.path_style else "virtual"},
        ),
    )
