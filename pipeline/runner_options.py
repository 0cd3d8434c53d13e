"""Options that go on to the runner are checked against what its job service takes.

An option that neither this tool nor Beam's Python SDK knows passes through to a portable
runner (``pipeline.arguments``). Beam sends on only the options that the job service
describes (``DescribePipelineOptions``: Flink's job server describes Flink's and Beam's
Java options) and drops the rest without a word. So a slip in a runner's option
(``--number_of_execution_retires 2``) would run the job as if it had not been given.

``refuse_dropped_options`` makes the runner check, at the moment Beam has asked the job
service and encoded the options, before anything is submitted: an option that would be
dropped is a ``UsageError`` (one line, exit code 2) that names it and, when one is
close, the job service's option it may have meant. Nothing runs.
"""

from __future__ import annotations

import difflib
import logging
from typing import Any

from pipeline.errors import UsageError

_LOGGER = logging.getLogger(__name__)
_PREFIX, _SUFFIX = "beam:option:", ":v1"  # how Beam names an option it sends


def refuse_dropped_options(runner: Any) -> None:
    """Make ``runner`` (a portable runner; any other is left as it is) refuse to submit
    a job when the job service would not get an option given on the command line."""
    make_handle = getattr(runner, "create_job_service_handle", None)
    if make_handle is None:
        return

    def checked_handle(job_service: Any, options: Any) -> Any:
        handle = make_handle(job_service, options)
        encode = handle.get_pipeline_options

        def get_pipeline_options() -> Any:
            encoded = encode()
            sent = {key[len(_PREFIX) : -len(_SUFFIX)] for key in encoded.fields}
            dropped = sorted(_passed_through(options) - sent)
            if dropped:
                raise UsageError(_refusal(runner, dropped, _described(handle)))
            return encoded

        handle.get_pipeline_options = get_pipeline_options
        return handle

    runner.create_job_service_handle = checked_handle


def _passed_through(options: Any) -> set[str]:
    """The options given that Beam's Python SDK does not know (those for the runner)."""
    given = options.get_all_options(retain_unknown_options=True)
    known = options.get_all_options()
    return {name for name, value in given.items() if name not in known and value is not None}


def _described(handle: Any) -> list[str]:
    """The names of the options the job service takes; none when it cannot say."""
    from apache_beam.portability.api import beam_job_api_pb2

    try:
        response = handle.job_service.DescribePipelineOptions(
            beam_job_api_pb2.DescribePipelineOptionsRequest(), timeout=handle.timeout
        )
    except Exception as e:  # only a suggestion is lost
        _LOGGER.debug("the job service did not describe its options: %s", e)
        return []
    return [option.name for option in response.options]


def _refusal(runner: Any, dropped: list[str], described: list[str]) -> str:
    names = ", ".join(f"--{name}" for name in dropped)
    text = (
        f"the job service of {type(runner).__name__} takes no option {names}, so the "
        "job would run without it; nothing was run"
    )
    close = difflib.get_close_matches(dropped[0], described, n=1, cutoff=0.8)
    if close:
        text += f" (did you mean --{close[0]}?)"
    elif not described:
        text += " (it takes no runner options)"
    return text
