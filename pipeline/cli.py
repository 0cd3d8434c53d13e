"""The command line: argv -> run plan -> job (told to an observer) -> summary.

``main`` parses the arguments (``pipeline.arguments``), makes the run's config and its
plan (``pipeline.plan``) once, checks the SOURCEs, the bucket and where the report goes
before anything is uploaded, runs the pipeline (``pipeline.run``) with the command
line's observers (``pipeline.console``: the per-file lines, the failures, Ctrl-C; and
``pipeline.progress``: the bar), and prints the summary (``pipeline.output``).

Exit codes (``pipeline.errors``): 0 every file done; 1 some file failed; 2 bad usage or
configuration; 130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pipeline import interrupt
from pipeline.arguments import PROG, parse
from pipeline.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError
from pipeline.options import UploadConfig, WalkKind

if TYPE_CHECKING:
    from pipeline.plan import RunPlan
    from pipeline.progress import AboveTheBar
    from pipeline.summary import Summary
    from pipeline.transport.control import Control

_LOGGER = logging.getLogger(__name__)
_GC_THRESHOLD = 50_000


def build_config(args: argparse.Namespace) -> UploadConfig:
    return UploadConfig.from_args(args)


def main(argv: Sequence[str] | None = None) -> int:
    from pipeline.console import configure_logging, not_beam_gcp_noise

    argv = list(sys.argv[1:] if argv is None else argv)
    logging.getLogger().addFilter(not_beam_gcp_noise)
    try:
        args, beam_options = parse(argv)
        above = configure_logging(args)
        with _run_temp_dir():
            return _run(args, beam_options, above)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


@contextlib.contextmanager
def _run_temp_dir() -> Iterator[None]:
    """One temporary directory for everything this process and its children make there
    (ours, Beam's pipeline and staging files), removed when the process exits, also on
    Ctrl-C. At exit, not at the end of the block: Beam stops a job server it started,
    and removes that server's files, from its own exit handler, which runs first."""
    run_temp = tempfile.mkdtemp(prefix="s3pp-run-")
    previous = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = run_temp
    os.environ["TMPDIR"] = run_temp

    def remove() -> None:
        shutil.rmtree(run_temp, ignore_errors=True)

    atexit.register(remove)
    try:
        with interrupt.on_force(remove):
            yield
    finally:
        tempfile.tempdir = previous[0]
        if previous[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous[1]


def _check_sources(config: UploadConfig, control: Control) -> None:
    """Every SOURCE exists (and --files-from has its one SOURCE directory), or exit 2;
    the buckets that --walk s3 copies from answer."""
    from pipeline.preflight import check_bucket
    from pipeline.s3uri import S3Uri
    from pipeline.sources.file_list import check_file_list
    from pipeline.sources.filesystem import check_mirrorable
    from pipeline.sources.kinds import source_for

    options = config.source
    if options.files_from is not None:
        check_file_list(options)
        return
    if config.decision.delete and options.walk is WalkKind.FILESYSTEM:
        check_mirrorable(options.sources)
    source_for(options.walk).resolve(options.sources)
    if options.walk is WalkKind.S3:
        for uri in options.sources:
            check_bucket(control, S3Uri.parse(uri).bucket, config.target.endpoint.url)


def _check_before_run(args: argparse.Namespace, config: UploadConfig, plan: RunPlan) -> None:
    """The SOURCEs, the bucket and where the report and Beam's temporary files go, before
    anything is uploaded: a usage error if one is wrong."""
    from pipeline.preflight import check_bucket
    from pipeline.report.destinations import check_destinations
    from pipeline.transport import open_control

    url = config.target.endpoint.url
    with contextlib.closing(open_control(config.target, config.transport)) as control:
        _check_sources(config, control)
        check_bucket(control, config.target.bucket, url)
        check_destinations(control, url, plan.report, plan.temp_location)


def _run(
    args: argparse.Namespace, beam_options: dict[str, Any], above: tuple[AboveTheBar, ...]
) -> int:
    from pipeline.console import CommandLineObserver, show_progress
    from pipeline.observer import Observers
    from pipeline.plan import make_plan
    from pipeline.progress import Progress
    from pipeline.report.staging import records_for_run
    from pipeline.run import (  # Beam, loaded
        RunFailed,
        WorkerLost,
        abort_open_uploads,
        run_pipeline,
    )

    # Beam and the per-file records make many short-lived objects: collect them less
    # often, and never re-scan what the imports (Beam's above all) left behind.
    gc.freeze()
    gc.set_threshold(_GC_THRESHOLD, 20, 20)
    config = build_config(args)
    plan = make_plan(beam_options, args.report, args.resume)
    if not plan.works_here and (args.verbose or args.dry_run) and not args.quiet:
        _LOGGER.warning(
            "the workers of this runner are other processes: their per-file lines (-v, "
            "--dry-run) are not printed here; --report FILE records every file"
        )
    _check_before_run(args, config, plan)
    lines = CommandLineObserver(config.target.bucket, json_lines=args.json and args.verbose >= 1)
    bar = Progress(sys.stderr, above) if show_progress(args) else None
    observer = Observers(lines, bar) if bar is not None else lines
    started, started_wall = time.monotonic(), time.time()
    late_errors: list[str] = []  # what went wrong after the files were done
    try:
        with (
            interrupt.graceful(),
            interrupt.on_force(lambda: abort_open_uploads(config, started_wall)),
            records_for_run(config, plan.report, late_errors) as (config, resume_files),
            bar or contextlib.nullcontext(),
        ):
            summary = run_pipeline(config, plan, resume_files, observer)
    except RunFailed as e:
        if interrupt.requested():
            print(
                f"{PROG}: interrupted: {e}; open multipart uploads under the prefix were "
                f"aborted. {_how_to_continue(plan)}",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        if isinstance(e, WorkerLost):
            print(f"{PROG}: error: {_worker_lost(e, plan)}", file=sys.stderr)
            return EXIT_FAILED
        print(f"{PROG}: error: the run failed: {e}", file=sys.stderr)
        return EXIT_FAILED
    summary.failures = summary.failures or list(lines.failures)
    return _ended(args, config, plan, summary, time.monotonic() - started, late_errors)


def _worker_lost(error: Exception, plan: RunPlan) -> str:
    from pipeline.output import worker_lost

    return worker_lost(str(error), plan.report.uri if plan.report else None)


def _how_to_continue(plan: RunPlan, walk_stopped: bool = False) -> str:
    from pipeline.output import how_to_continue

    return how_to_continue(plan.report.uri if plan.report else None, walk_stopped)


def _ended(
    args: argparse.Namespace,
    config: UploadConfig,
    plan: RunPlan,
    summary: Summary,
    elapsed: float,
    late_errors: list[str],
) -> int:
    """Print how the run ended; its exit code."""
    from pipeline.output import (
        deletions_interrupted,
        deletions_withheld,
        summary_json,
        summary_text,
        warnings,
    )

    dry_run = config.decision.dry_run
    if args.json:
        print(summary_json(summary, elapsed, dry_run))
    elif not args.quiet:
        shown = plan.works_here and not args.log_filename  # else the failures are in the file
        print(summary_text(summary, elapsed, dry_run, failures_shown=shown))
    for warning in warnings(summary, config):
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    for error in late_errors:
        print(f"{PROG}: error: {error}", file=sys.stderr)
    if interrupt.requested():
        if config.decision.delete and not dry_run:
            print(f"{PROG}: {deletions_interrupted(summary)}", file=sys.stderr)
        if not args.quiet:
            print(_how_to_continue(plan, summary.unwalked_shards > 0), file=sys.stderr)
        return EXIT_INTERRUPTED
    withheld = deletions_withheld(summary, config)
    if withheld:
        print(f"{PROG}: error: {withheld}", file=sys.stderr)
    return EXIT_FAILED if summary.failed or late_errors or withheld else EXIT_OK
