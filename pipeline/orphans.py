"""Cleaning up multipart uploads that a lost answer orphaned.

When the answer to CreateMultipartUpload is lost on the way, the client retries and
gets a new upload id; the first upload stays open on the server, holding nothing but
costing a listing entry and any parts. After each multipart upload of this run, the
uploads of the same key that were started since then and are still open are aborted.
"""

from __future__ import annotations

import logging
from typing import Any

import botocore.exceptions

_LOGGER = logging.getLogger(__name__)
CLOCK_SKEW_S = 2.0  # the server's clock may run a little behind ours


def _abort_open_uploads(client: Any, bucket: str, prefix: str, since: float, exact: bool) -> int:
    """Abort open multipart uploads of ``prefix`` (the key itself when ``exact``, else
    every key under it) initiated after ``since`` (epoch seconds)."""
    aborted = 0
    try:
        pages = client.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Prefix=prefix
        )
        for page in pages:
            for upload in page.get("Uploads", []):
                started = upload["Initiated"].timestamp()
                if (exact and upload["Key"] != prefix) or started < since - CLOCK_SKEW_S:
                    continue
                client.abort_multipart_upload(
                    Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                aborted += 1
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        _LOGGER.warning("could not check %s for open multipart uploads: %s", prefix, e)
    if aborted:
        _LOGGER.info("aborted %d open multipart upload(s) under %s", aborted, prefix)
    return aborted


def abort_orphaned_uploads(client: Any, bucket: str, key: str, since: float) -> int:
    """Abort open multipart uploads of ``key`` initiated after ``since`` (epoch seconds)."""
    return _abort_open_uploads(client, bucket, key, since, exact=True)


def abort_uploads_under(client: Any, bucket: str, prefix: str, since: float) -> int:
    """Abort every open multipart upload under ``prefix`` initiated after ``since``: what
    the workers of a cancelled job left open."""
    return _abort_open_uploads(client, bucket, prefix, since, exact=False)
