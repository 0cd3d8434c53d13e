"""Cleaning up multipart uploads that a lost answer orphaned.

When the answer to CreateMultipartUpload is lost on the way, the client retries and
gets a new upload id; the first upload stays open on the server, holding nothing but
costing a listing entry and any parts. After each multipart upload of this run, the
uploads of the same key that were started since then and are still open are aborted.
"""

from __future__ import annotations

import logging

from pipeline.transport.control import Control, S3Error

_LOGGER = logging.getLogger(__name__)
CLOCK_SKEW_S = 2.0  # the server's clock may run a little behind ours


def _abort_open_uploads(
    control: Control, bucket: str, prefix: str, since: float, exact: bool
) -> int:
    """Abort open multipart uploads of ``prefix`` (the key itself when ``exact``, else
    every key under it) initiated after ``since`` (epoch seconds)."""
    aborted = 0
    try:
        for upload in list(control.open_uploads(bucket, prefix)):
            if (exact and upload.key != prefix) or upload.initiated < since - CLOCK_SKEW_S:
                continue
            control.abort_upload(bucket, upload)
            aborted += 1
    except S3Error as e:
        _LOGGER.warning("could not check %s for open multipart uploads: %s", prefix, e)
    if aborted:
        _LOGGER.info("aborted %d open multipart upload(s) under %s", aborted, prefix)
    return aborted


def abort_orphaned_uploads(control: Control, bucket: str, key: str, since: float) -> int:
    """Abort open multipart uploads of ``key`` initiated after ``since`` (epoch seconds)."""
    return _abort_open_uploads(control, bucket, key, since, exact=True)


def abort_uploads_under(control: Control, bucket: str, prefix: str, since: float) -> int:
    """Abort every open multipart upload under ``prefix`` initiated after ``since``: what
    the workers of a cancelled job left open."""
    return _abort_open_uploads(control, bucket, prefix, since, exact=False)
