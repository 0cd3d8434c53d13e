"""The command line: parse options, check the target, run the pipeline, report.

Exit codes: 0 every file done; 1 some file failed; 2 bad usage or configuration;
130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import logging
import os
import platform
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from pipeline import __version__, interrupt, options
from pipeline.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError
from pipeline.options import UploadConfig, WalkKind
from pipeline.progress import AboveTheBar

if TYPE_CHECKING:
    from pipeline.report.place import ReportPlace
    from pipeline.results import Summary
    from pipeline.transport.control import Control

PROG = "s3-parallel-put"
_LOGGER = logging.getLogger(__name__)

_GC_THRESHOLD = 50_000

_DESCRIPTION = """\
Upload trees of files to S3-compatible storage in parallel, as an Apache Beam pipeline.

It syncs a tree into a bucket: by default only the files whose objects are absent or
differ are uploaded (--put, --compare), so running it again sends only what changed.
With --delete it mirrors the tree: the objects under the prefix that no file maps to are
deleted too (--max-delete N guards against deleting too many; --dry-run shows what a run
would upload and delete, and changes nothing)."""

_EXAMPLES = """\
examples:
  s3-parallel-put --bucket my-bucket --prefix site/ ./public    # sync
  s3-parallel-put --bucket my-bucket --put add --gzip --dry-run ./public
  s3-parallel-put --bucket my-bucket --prefix site/ --delete --max-delete 100 ./public  # mirror
  s3-parallel-put --bucket b --endpoint-url http://127.0.0.1:8333 'logs/*.txt'
  python -m pipeline --bucket b ./data --runner PortableRunner \\
      --job_endpoint embed --environment_type LOOPBACK

Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, ~/.aws profiles via AWS_PROFILE, instance roles).
Apache Beam options (--runner, --direct_num_workers, --temp_location, ...) pass through;
without --runner the local FnApiRunner runs the job, offline.
exit codes: 0 all done, 1 some file failed, 2 bad usage or configuration, 130 interrupted.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see --help)\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The tool's own options (Beam's are added beside them when parsing): those of each
    option group, and the output options that only the command line has."""
    options.add_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="one line per file; -vv for debug logging",
    )
    out.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    out.add_argument(
        "--no-progress",
        action="store_true",
        help="no live progress bar (shown on a terminal unless -q, --json, --dry-run, or "
        "-v without --log-filename)",
    )
    out.add_argument(
        "--log-filename",
        metavar="FILE",
        help="write the log (warnings, every per-file line, failures too, -vv debug) to "
        "FILE instead of the terminal; the summary is still printed",
    )
    out.add_argument(
        "--json",
        action="store_true",
        help="print the summary as one JSON object on stdout; with -v also one per file",
    )
    out.add_argument(
        "--version", action=_Version, nargs=0, help="show the versions of this tool, Beam, "
        "awscrt and Python, and exit",
    )  # fmt: skip


def version_text() -> str:
    """The tool's version and those of what it runs on, as ``aws --version`` says them:
    ``s3-parallel-put/0.1.0 apache-beam/2.62.0 awscrt/0.38.1 Python/3.11.7 Linux/6.1``
    (read from the installed packages' metadata, without importing them)."""
    from importlib import metadata

    parts = [f"{PROG}/{__version__}"]
    for package in ("apache-beam", "awscrt"):
        try:
            parts.append(f"{package}/{metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package}/missing")
    parts += [f"Python/{platform.python_version()}", f"{platform.system()}/{platform.release()}"]
    return " ".join(parts)


class _Version(argparse.Action):
    """--version: the versions are looked up only when asked for (~15 ms)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(version_text())
        parser.exit()


def help_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add_arguments(parser)
    return parser


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Our options, and the Beam options the user set (as a dict for PipelineOptions).

    With Beam options on the line, ours are added to Beam's own parser through its public
    hook (``get_all_options(add_extra_args_fn=...)``), so one parser knows every option:
    a value is never taken for a SOURCE, and an option neither knows is an error.
    """
    if any(arg in ("-h", "--help", "--version") for arg in argv):
        return help_parser().parse_args(argv), {}
    ours, unknown = help_parser().parse_known_args(argv)
    if not unknown:
        return ours, {}  # no Beam options: spare building a parser of all of Beam's
    from apache_beam.options.pipeline_options import PipelineOptions

    parsed: list[argparse.Namespace] = []

    def add_ours(parser: argparse.ArgumentParser) -> None:
        parser.prog = PROG
        parser.error = _Parser(prog=PROG).error  # type: ignore[method-assign]
        parser.conflict_handler = "resolve"  # ours win: --region, --profile
        add_arguments(parser)
        parsed.append(parser.parse_args(argv))  # exits 2 on an option neither knows

    beam = PipelineOptions(list(argv)).get_all_options(
        drop_default=True, add_extra_args_fn=add_ours
    )
    for dest in vars(ours):
        beam.pop(dest, None)
    return parsed[0], {k: v for k, v in beam.items() if v not in (None, False, [])}


def build_config(args: argparse.Namespace) -> UploadConfig:
    output = options.OutputOptions(run_id=args.run_id, json_lines=args.json and args.verbose >= 1)
    return UploadConfig.from_args(args, output)


def _configure_logging(args: argparse.Namespace) -> None:
    """Logs to stderr (or --log-filename); one line per file to stdout with -v/--dry-run."""
    debug = args.verbose >= 2
    if args.log_filename:
        try:
            log: logging.Handler = logging.FileHandler(
                args.log_filename, encoding="utf-8", errors="backslashreplace"
            )
        except OSError as e:
            raise UsageError(f"--log-filename {args.log_filename!r}: {e.strerror}") from e
        log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        log = AboveTheBar(sys.stderr, args.run_id)
        log.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [log]
    quiet = logging.ERROR if args.quiet else logging.WARNING  # -q: nothing but errors
    root.setLevel(logging.DEBUG if debug else logging.INFO if args.log_filename else quiet)
    for noisy in ("apache_beam", "botocore", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.INFO if debug else logging.ERROR)
    relay = logging.getLogger("apache_beam.runners.portability.local_job_service")
    relay.filters[:] = [_not_a_relayed_file_line]

    # Per-file lines: with --log-filename every one to FILE alone (the printed summary
    # lists the failures); else -v/--dry-run ones on stdout (JSON with --json -v),
    # failures on stderr, once each, above the progress bar; -q leaves only the failures.
    files = logging.getLogger("pipeline.files")
    files.propagate = False
    if args.log_filename:
        files.handlers[:] = [log]
        files.setLevel(logging.INFO)
        return
    json_lines = args.json and args.verbose >= 1
    show_each = (args.verbose >= 1 or args.dry_run) and not args.quiet
    each = logging.StreamHandler(sys.stderr if args.json and not json_lines else sys.stdout)
    each.setFormatter(logging.Formatter("%(message)s"))
    each.addFilter(lambda record: record.levelno < logging.ERROR)
    failures = AboveTheBar(sys.stderr, args.run_id)
    failures.setFormatter(logging.Formatter("%(message)s"))
    failures.setLevel(logging.ERROR)
    files.handlers[:] = [failures] + ([each] if show_each else [])
    files.setLevel(logging.INFO if show_each else logging.ERROR)


def _not_a_relayed_file_line(record: logging.LogRecord) -> bool:
    """Beam's local job service relays the log of worker processes (``multi_processing``)
    as dumps of their log entries: the per-file lines among them (failures) are listed in
    the summary instead."""
    if record.msg != "Worker: %s" or not isinstance(record.args, tuple) or not record.args:
        return True
    return not re.search(r'transform_id: "[^"]*/Observe\w+"', str(record.args[0]))


def _show_progress(args: argparse.Namespace) -> bool:
    """A live bar only for a person at a terminal who asked for no other output there
    (the lines of -v may go to --log-filename)."""
    per_file_here = args.verbose and not args.log_filename
    quiet = args.quiet or args.json or per_file_here or args.dry_run or args.no_progress
    return not quiet and sys.stderr.isatty()


def _not_beam_gcp_noise(record: logging.LogRecord) -> bool:
    """Newer Beams (2.77.0) warn on import that optional Google Cloud libraries are
    missing ('apitools not found, and bigquery client libraries are not available'): not
    ours, and not the one line a usage error is."""
    return not record.getMessage().startswith("apitools not found")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.getLogger().addFilter(_not_beam_gcp_noise)
    try:
        args, beam_options = parse(argv)
        args.run_id = uuid.uuid4().hex  # names the run's progress bar in this process
        _configure_logging(args)
        with _run_temp_dir():
            return _run(args, beam_options)
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
    from pipeline.sources.bucket import split_s3_uri
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
            check_bucket(control, split_s3_uri(uri)[0], config.target.endpoint.url)


def _run(args: argparse.Namespace, beam_options: dict[str, Any]) -> int:
    from pipeline.output import summary_json, summary_text
    from pipeline.preflight import check_bucket
    from pipeline.progress import Progress
    from pipeline.report.destinations import check_destinations
    from pipeline.report.place import report_place
    from pipeline.report.staging import records_for_run
    from pipeline.run import (
        RunFailed,
        abort_open_uploads,
        is_local,
        pipeline_options,
        run_pipeline,
        temp_location,
        works_here,
    )
    from pipeline.transport import open_control

    # Beam and the per-file records make many short-lived objects: collect them less
    # often, and never re-scan what the imports left behind.
    gc.freeze()
    gc.set_threshold(_GC_THRESHOLD, 20, 20)
    config = build_config(args)
    options = pipeline_options(beam_options)
    local = is_local(options)
    shown_here = works_here(options)
    if not shown_here and (args.verbose or args.dry_run) and not args.quiet:
        _LOGGER.warning(
            "the workers of this runner are other processes: their per-file lines (-v, "
            "--dry-run) are not printed here; --report FILE records every file"
        )
    url = config.target.endpoint.url
    with contextlib.closing(open_control(config.target, config.transport)) as control:
        _check_sources(config, control)
        check_bucket(control, config.target.bucket, url)
        place = report_place(args.report, args.resume, local)
        check_destinations(control, url, place, temp_location(options))
    run_id = config.output.run_id
    bar = Progress(run_id, sys.stderr) if _show_progress(args) else contextlib.nullcontext()
    started, started_wall = time.monotonic(), time.time()
    late_errors: list[str] = []  # what went wrong after the files were done
    try:
        with (
            interrupt.graceful(),
            interrupt.on_force(lambda: abort_open_uploads(config, started_wall)),
            records_for_run(config, place, late_errors) as (config, resume_files),
            bar,
        ):
            summary = run_pipeline(config, beam_options, resume_files)
    except RunFailed as e:
        if interrupt.requested():
            print(
                f"{PROG}: interrupted: {e}; open multipart uploads under the prefix were "
                f"aborted. {_how_to_continue(place)}",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        print(f"{PROG}: error: the run failed: {e}", file=sys.stderr)
        return EXIT_FAILED
    elapsed = time.monotonic() - started
    if args.json:
        print(summary_json(summary, elapsed, config.decision.dry_run))
    elif not args.quiet:
        shown = shown_here and not args.log_filename  # else the failures are in the file
        print(summary_text(summary, elapsed, config.decision.dry_run, failures_shown=shown))
    if summary.resume_records_elsewhere:
        print(
            f"{PROG}: warning: --resume: {summary.resume_records_elsewhere} records ignored: "
            f"they name another bucket or endpoint than s3://{config.target.bucket} at {url} "
            "(or none, as reports of earlier versions do)",
            file=sys.stderr,
        )
    if summary.compared_by_mtime:
        print(
            f"{PROG}: warning: {summary.compared_by_mtime} objects have an ETag that is no "
            "MD5 (SSE-KMS, SSE-C or the server's own) and no stored checksum: they were "
            "compared with their files by size and mtime",
            file=sys.stderr,
        )
    for error in late_errors:
        print(f"{PROG}: error: {error}", file=sys.stderr)
    withheld = _deletions_withheld(summary, config)
    if withheld and not interrupt.requested():
        print(f"{PROG}: error: {withheld}", file=sys.stderr)
    if interrupt.requested():
        if config.decision.delete and not config.decision.dry_run:
            print(f"{PROG}: {_deletions_interrupted(summary)}", file=sys.stderr)
        if not args.quiet:
            print(_how_to_continue(place, summary.unwalked_shards > 0), file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FAILED if summary.failed or late_errors or withheld else EXIT_OK


def _deletions_withheld(summary: Summary, config: UploadConfig) -> str:
    """Why --delete deleted nothing of what it planned, or ''."""
    if not summary.deletes_withheld:
        return ""
    planned = f"{summary.deletes_planned} objects that no file maps to"
    if summary.walk_incomplete:
        return (
            f"--delete: nothing deleted ({planned}): {summary.walk_incomplete} directories, "
            "archives or listings could not be read, so what belongs under the prefix is "
            "not known"
        )
    guard = f"more than --max-delete {config.decision.max_delete}"
    if config.decision.dry_run:
        return f"--delete: a run would delete nothing: {planned}, {guard}"
    return f"--delete: nothing deleted: {planned}, {guard} (--dry-run lists them)"


def _deletions_interrupted(summary: Summary) -> str:
    """What an interrupt left of --delete's work: the batches sent before it were made,
    none after it (nor any when it came before the walk was whole)."""
    if not summary.deleted:
        return "--delete: interrupted: no object was deleted"
    return (
        f"--delete: interrupted after deleting {summary.deleted} of the objects that no "
        f"file maps to; {summary.deletes_withheld} more were not deleted"
    )


def _how_to_continue(place: ReportPlace | None, walk_stopped: bool = False) -> str:
    """The line that ends an interrupted run: how to finish the job."""
    unseen = "the walk was stopped, so files it had not found yet are not counted. "
    unseen = unseen if walk_stopped else ""
    if place is not None:
        again = f"run the same command with --resume {place.uri} (what it records done is skipped)"
    else:
        again = "run the same command again to finish (what is already in the bucket is skipped)"
    return f"Interrupted: {unseen}To continue, {again}."
