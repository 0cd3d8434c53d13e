"""A boto3 client for the control plane (bucket checks, report files), same endpoint."""

from __future__ import annotations

from typing import Any

import botocore.config
import botocore.session

from pipeline.config import Endpoint

_CONNECT_TIMEOUT_S = 10


def make_client(
    endpoint: Endpoint, ca_bundle: str | None, profile: str | None = None, max_attempts: int = 3
) -> Any:
    return botocore.session.Session(profile=profile).create_client(
        "s3",
        region_name=endpoint.region,
        endpoint_url=endpoint.url,
        verify=ca_bundle if ca_bundle else True,
        config=botocore.config.Config(
            connect_timeout=_CONNECT_TIMEOUT_S,
            read_timeout=30,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            s3={"addressing_style": "path" if endpoint.path_style else "virtual"},
        ),
    )
