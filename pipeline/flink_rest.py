"""Talking to a Flink cluster's REST API: find the job a Beam submission became, cancel it,
and ask whether it failed over.

Beam's portable job server cancels only its own record of a job: the Flink job goes on
uploading. The client therefore cancels the Flink job itself (``PATCH /jobs/ID?mode=
cancel``) and waits, bounded, until Flink says it has stopped. The Flink job is named
after the Beam job id without its ``_<uuid>`` suffix. A job that a restart strategy
restarted after a failure (a TaskManager lost) has it in its exception history.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

_LOGGER = logging.getLogger(__name__)
_TIMEOUT_S = 10.0
_TERMINAL = {"CANCELED", "FAILED", "FINISHED"}


def rest_url(flink_master: str) -> str:
    """``host:port`` (Beam's --flink_master) -> ``http://host:port``."""
    return flink_master if "://" in flink_master else f"http://{flink_master}"


def _call(url: str, method: str = "GET") -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, method=method)
    with opener.open(request, timeout=_TIMEOUT_S) as answer:
        body = answer.read()
    return json.loads(body) if body else None


def find_job(base: str, beam_job_id: str, running: bool = True) -> str | None:
    """The id of the Flink job that ``beam_job_id`` was submitted as, if any (``running``:
    only while it runs)."""
    name = beam_job_id.rsplit("_", 1)[0]
    jobs = _call(f"{base}/jobs/overview").get("jobs", [])
    for job in jobs:
        if job.get("name") == name and not (running and job.get("state") in _TERMINAL):
            return str(job["jid"])
    return None


def failed_over(flink_master: str, beam_job_id: str) -> bool:
    """Whether the Flink job of ``beam_job_id`` failed at least once (a restart strategy
    then restarted it): its exception history holds the failures. False if unknown."""
    base = rest_url(flink_master)
    try:
        jid = find_job(base, beam_job_id, running=False)
        if jid is None:
            return False
        history = _call(f"{base}/jobs/{jid}/exceptions").get("exceptionHistory", {})
    except (OSError, ValueError, urllib.error.URLError) as e:
        _LOGGER.warning("could not ask the Flink job at %s whether it failed over: %s", base, e)
        return False
    return bool(history.get("entries"))


def task_progress(flink_master: str, beam_job_id: str) -> tuple[int, int] | None:
    """(finished, total) tasks of the Flink job of ``beam_job_id``, or None if unknown.

    In batch, Beam's counters reach the client only when a stage's partition ends, so
    while a job runs this is the progress that Flink can tell.
    """
    base = rest_url(flink_master)
    try:
        for job in _call(f"{base}/jobs/overview").get("jobs", []):
            if job.get("name") == beam_job_id.rsplit("_", 1)[0]:
                tasks = job.get("tasks", {})
                return int(tasks.get("finished", 0)), int(tasks.get("total", 0))
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return None


def cancel_job(flink_master: str, beam_job_id: str, wait_s: float) -> bool:
    """Cancel the Flink job of ``beam_job_id`` and wait until it stopped; True if it did."""
    base = rest_url(flink_master)
    try:
        jid = find_job(base, beam_job_id)
        if jid is None:
            _LOGGER.info("no running Flink job for %s: it is over already", beam_job_id)
            return True
        _call(f"{base}/jobs/{jid}?mode=cancel", method="PATCH")
        _LOGGER.info("cancelling Flink job %s", jid)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if _call(f"{base}/jobs/{jid}").get("state") in _TERMINAL:
                return True
            time.sleep(0.5)
    except (OSError, ValueError, urllib.error.URLError) as e:
        _LOGGER.warning("could not cancel the Flink job at %s: %s", base, e)
    return False
