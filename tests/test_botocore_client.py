"""The one botocore client factory: what it takes from the target, and what from its caller."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.options import Endpoint, RetryMode, TargetOptions
from pipeline.transport.botocore_client import POOL_CONNECTIONS, make_client

ENDPOINT = Endpoint("https", "127.0.0.1", 8443, "eu-west-1", path_style=True)


@pytest.mark.parametrize("ca_bundle", [None, "/etc/ssl/ours.pem"])
def test_a_client_of_the_target_verifies_tls(ca_bundle: str | None) -> None:
    target = TargetOptions("bucket", ENDPOINT, ca_bundle=ca_bundle)
    client = make_client(target, retries=2, connect_timeout=3, read_timeout=4)

    assert client.meta.endpoint_url == "https://127.0.0.1:8443"
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.s3 == {"addressing_style": "path"}
    # botocore keeps what it verifies against (True: the system's trust store) here only.
    assert client._endpoint.http_session._verify == (ca_bundle or True)
    client.close()


def test_the_caller_sets_retries_timeouts_and_pool() -> None:
    virtual = dataclasses.replace(ENDPOINT, host="s3.example.test", path_style=False)
    target = TargetOptions("bucket", virtual)
    client = make_client(
        target, retries=0, connect_timeout=3, read_timeout=4,
        retry_mode=RetryMode.ADAPTIVE, pool_connections=64,
    )  # fmt: skip
    config = client.meta.config

    assert config.retries == {"total_max_attempts": 1, "mode": "adaptive"}
    assert (config.connect_timeout, config.read_timeout) == (3, 4)
    assert config.max_pool_connections == 64
    assert config.s3 == {"addressing_style": "virtual"}
    client.close()
    plain = make_client(target, retries=3, connect_timeout=1, read_timeout=1)
    assert plain.meta.config.max_pool_connections == POOL_CONNECTIONS
    assert plain.meta.config.retries == {"total_max_attempts": 4, "mode": "standard"}
    plain.close()
