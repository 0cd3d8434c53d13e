"""The command line: parse options, check the target, run the pipeline, report.

Exit codes: 0 every file done; 1 some file failed; 2 bad usage or configuration;
130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import gc
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from pipeline import __version__, interrupt, report
from pipeline.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MULTIPART_CHUNKSIZE,
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    PutMode,
    UploadConfig,
    resolve_endpoint,
)
from pipeline.errors import UsageError
from pipeline.filters import EXCLUDE, INCLUDE, FileFilter
from pipeline.metadata import CANNED_ACLS, SSE_MODES, STORAGE_CLASSES, metadata_headers
from pipeline.progress import AboveTheBar

PROG = "s3-parallel-put"
_LOGGER = logging.getLogger(__name__)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_GC_THRESHOLD = 50_000

_EXAMPLES = """\
examples:
  s3-parallel-put --bucket my-bucket --prefix site/ ./public
  s3-parallel-put --bucket my-bucket --put add --gzip --dry-run ./public
  s3-parallel-put --bucket b --endpoint-url http://127.0.0.1:8333 'logs/*.txt'
  python -m pipeline --bucket b ./data --runner PortableRunner \\
      --job_endpoint embed --environment_type LOOPBACK

Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, ~/.aws profiles via AWS_PROFILE, instance roles).
Apache Beam options (--runner, --direct_num_workers, --temp_location, ...) pass through;
without --runner the local FnApiRunner runs the job, offline.
exit codes: 0 all done, 1 some file failed, 2 bad usage or configuration, 130 interrupted.
"""

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """'8MiB', '8M', '8388608' -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 8MiB)")
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _UNITS[unit]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from e
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _non_negative(text: str) -> int:
    return 0 if text.strip() == "0" else _positive(text)


class _FilterRule(argparse.Action):
    """--include and --exclude share one list, so their order on the command line counts."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        kind = INCLUDE if option_string == "--include" else EXCLUDE
        rules = [*(getattr(namespace, self.dest, None) or []), (kind, values)]
        setattr(namespace, self.dest, rules)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see --help)\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The tool's own options (Beam's are added beside them when parsing)."""
    parser.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="a directory, a file or a glob pattern to upload",
    )
    target = parser.add_argument_group("target")
    target.add_argument("--bucket", required=True, help="the bucket to upload into")
    target.add_argument(
        "--prefix", default="", help="key prefix: KEY = PREFIX/path relative to SOURCE"
    )
    target.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="an S3-compatible server, e.g. http://127.0.0.1:8333 (default: AWS_ENDPOINT_URL_S3, "
        "else AWS_ENDPOINT_URL, else AWS S3 in --region)",
    )
    target.add_argument(
        "--region", help="the bucket's region (default: from the AWS config, else us-east-1)"
    )
    target.add_argument(
        "--profile",
        metavar="NAME",
        help="use this profile of ~/.aws/config and ~/.aws/credentials (default: AWS_PROFILE, "
        "else the standard chain)",
    )
    target.add_argument(
        "--ca-bundle",
        metavar="FILE",
        help="trust the CA certificates in this PEM file (default: AWS_CA_BUNDLE, else the "
        "system's); certificate checks are always on",
    )
    secure = target.add_mutually_exclusive_group()
    secure.add_argument(
        "--secure", dest="secure", action="store_true", default=None, help="use https (the default)"
    )
    secure.add_argument(
        "--insecure",
        dest="secure",
        action="store_false",
        help="use plain http (certificates are never skipped silently)",
    )

    what = parser.add_argument_group("what to upload")
    what.add_argument(
        "--put",
        choices=[m.value for m in PutMode],
        default="update",
        help="add: only absent keys; stupid: always; update (default): "
        "absent keys or changed content (MD5 against ETag); copy: server-side copy from "
        "a source bucket (--walk s3) of objects absent or changed",
    )
    what.add_argument(
        "--include",
        dest="filter_rules",
        action=_FilterRule,
        default=[],
        metavar="PATTERN",
        help="upload files whose path relative to SOURCE "
        "matches (fnmatch; repeatable; the last matching rule wins)",
    )
    what.add_argument(
        "--exclude",
        dest="filter_rules",
        action=_FilterRule,
        metavar="PATTERN",
        help="skip files whose path relative to SOURCE matches (repeatable)",
    )
    what.add_argument(
        "--walk",
        choices=["filesystem", "tar", "s3"],
        default="filesystem",
        help="how SOURCE is read: a directory tree, file or glob (default); a tar "
        "archive (.tar, .tar.gz, .tar.bz2, .tar.xz; local or s3://), streamed; or "
        "s3://bucket/prefix on the same endpoint, with --put copy",
    )
    what.add_argument(
        "--files-from",
        metavar="FILE",
        help="upload the files this list names, one path relative to the one SOURCE "
        "directory per line (local or s3://; for lists of millions, read in parallel on "
        "a cluster)",
    )
    what.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="walk into linked directories too (each directory once; links to files "
        "are always uploaded)",
    )
    what.add_argument(
        "--ignore-files-older-than-days",
        type=float,
        metavar="DAYS",
        help="skip files last modified more than DAYS days ago",
    )
    what.add_argument(
        "--dry-run", action="store_true", help="show what would be uploaded; write nothing"
    )
    what.add_argument(
        "--limit", type=_non_negative, metavar="N", help="stop after N files (in sorted walk order)"
    )

    body = parser.add_argument_group("content")
    body.add_argument(
        "--content-type",
        metavar="TYPE",
        default="guess",
        help="'guess' (default) by the file name, 'magic' by the first bytes, or a fixed type",
    )
    body.add_argument(
        "--gzip",
        action="store_true",
        help="gzip text types, set Content-Encoding: gzip (deterministic bytes)",
    )
    body.add_argument(
        "--gzip-type",
        action="append",
        default=[],
        metavar="TYPE",
        help="a type to gzip with --gzip (repeatable; 'all' for everything; "
        "default: html, css, js, json, xml, svg, plain text)",
    )

    meta = parser.add_argument_group("object metadata")
    meta.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a header for every object: Cache-Control, Content-Disposition, "
        "Content-Language, Expires or x-amz-meta-* (repeatable)",
    )
    meta.add_argument(
        "--grant",
        choices=CANNED_ACLS,
        metavar="ACL",
        help=f"a canned ACL: {', '.join(CANNED_ACLS)}",
    )
    meta.add_argument(
        "--storage-class",
        choices=STORAGE_CLASSES,
        metavar="CLASS",
        help=f"the storage class: {', '.join(STORAGE_CLASSES)}",
    )
    meta.add_argument("--sse", choices=SSE_MODES, help="server-side encryption: AES256 or aws:kms")
    meta.add_argument(
        "--sse-kms-key-id",
        metavar="KEY_ID",
        help="the KMS key for --sse aws:kms (default: the account's S3 key)",
    )
    meta.add_argument(
        "--encrypt-key",
        dest="sse",
        action="store_const",
        const="AES256",
        help="the classic option name: the same as --sse AES256",
    )

    speed = parser.add_argument_group("speed")
    speed.add_argument(
        "--processes",
        "--concurrency",
        dest="concurrency",
        type=_positive,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"transfers in flight per worker (default {DEFAULT_CONCURRENCY})",
    )
    speed.add_argument(
        "--transport",
        choices=["crt", "boto3"],
        default="crt",
        help="crt (default): awscrt's native S3 client; boto3: plain boto3 requests from "
        "threads, slower, for servers awscrt does not get along with",
    )
    speed.add_argument(
        "--retries",
        type=_non_negative,
        default=DEFAULT_RETRIES,
        metavar="N",
        help=f"retries per request, with exponential backoff and jitter (default "
        f"{DEFAULT_RETRIES}); a body the server found damaged is sent again up to N times",
    )
    speed.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"a request still running after SECONDS (default {DEFAULT_TIMEOUT_S:g}) plus 4 s "
        "per MiB of its body is cancelled and sent again (a stalled server cannot hang a run)",
    )
    speed.add_argument(
        "--retry-mode",
        choices=["standard", "adaptive"],
        default="standard",
        help="adaptive also slows down when the server throttles (503 SlowDown)",
    )
    speed.add_argument(
        "--multipart-threshold",
        type=parse_size,
        metavar="SIZE",
        default=DEFAULT_MULTIPART_THRESHOLD,
        help="files above this go as parallel multipart uploads (default 8MiB)",
    )
    speed.add_argument(
        "--multipart-chunksize",
        type=parse_size,
        metavar="SIZE",
        default=DEFAULT_MULTIPART_CHUNKSIZE,
        help="part size of multipart uploads (default 8MiB, at least 5MiB)",
    )

    records = parser.add_argument_group("records")
    records.add_argument(
        "--report",
        metavar="FILE",
        help="append one JSON line per file (local path or s3://bucket/key)",
    )
    records.add_argument(
        "--resume",
        metavar="FILE",
        help="skip files a report records as done (size and mtime unchanged); "
        "the run's own lines are appended to it unless --report says otherwise",
    )

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
        help="no live progress bar (shown on a terminal unless -q, -v or --json)",
    )
    out.add_argument(
        "--log-filename",
        metavar="FILE",
        help="write the log (warnings, per-file lines, -vv debug) to FILE instead of stderr",
    )
    out.add_argument(
        "--json",
        action="store_true",
        help="print the summary as one JSON object on stdout; with -v also one per file",
    )
    out.add_argument("--version", action="version", version=f"{PROG} {__version__}")


def help_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Upload trees of files to S3-compatible storage in parallel, "
        "as an Apache Beam pipeline.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add_arguments(parser)
    return parser


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Our options, and the Beam options the user set (as a dict for PipelineOptions)."""
    if any(arg in ("-h", "--help", "--version") for arg in argv):
        return help_parser().parse_args(argv), {}
    args, unknown = help_parser().parse_known_args(argv)
    if not unknown:
        return args, {}  # no Beam options: spare building a parser of all of Beam's
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    class _CombinedParser(_BeamArgumentParser):  # type: ignore[misc]
        error = _Parser.error

    parser = _CombinedParser(prog=PROG, allow_abbrev=False, conflict_handler="resolve")
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    beam_dests = {action.dest for action in parser._actions}
    add_arguments(parser)
    ours = {action.dest for action in help_parser()._actions}
    args = parser.parse_args(argv)
    beam = {
        dest: getattr(args, dest)
        for dest in sorted(beam_dests - ours)
        if getattr(args, dest, None) not in (None, False, [])
        and getattr(args, dest) != parser.get_default(dest)
    }
    return args, beam


def build_config(args: argparse.Namespace) -> UploadConfig:
    from pipeline.transport.credentials import default_region

    region = args.region or default_region(args.profile) or "us-east-1"
    ca_bundle = args.ca_bundle or os.environ.get("AWS_CA_BUNDLE") or None
    if ca_bundle is not None and not os.path.isfile(ca_bundle):
        raise UsageError(f"--ca-bundle {ca_bundle!r} is not a file")
    endpoint_url, given_as = args.endpoint_url, "--endpoint-url"
    if endpoint_url is None:  # as boto3 and the aws cli do
        for variable in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
            if os.environ.get(variable):
                endpoint_url, given_as = os.environ[variable], variable
                break
    endpoint = resolve_endpoint(endpoint_url, region, args.secure, args.bucket, given_as)
    prefix = args.prefix.lstrip("/")
    if prefix != args.prefix and not args.quiet:
        _LOGGER.warning(
            "--prefix %r: leading '/' removed, S3 keys do not start with it: using %r",
            args.prefix,
            prefix,
        )
    return UploadConfig(
        bucket=args.bucket,
        endpoint=endpoint,
        prefix=prefix,
        put=PutMode(args.put),
        content_type=None if args.content_type == "guess" else args.content_type,
        gzip=args.gzip,
        gzip_types=tuple(args.gzip_type),
        concurrency=args.concurrency,
        multipart_threshold=args.multipart_threshold,
        multipart_chunksize=args.multipart_chunksize,
        headers=metadata_headers(
            args.header, args.grant, args.storage_class, args.sse, args.sse_kms_key_id
        ),
        follow_symlinks=args.follow_symlinks,
        walk=args.walk,
        file_filter=FileFilter.build(args.filter_rules, args.ignore_files_older_than_days),
        ca_bundle=ca_bundle,
        transport=args.transport,
        profile=args.profile,
        timeout=args.timeout,
        retries=args.retries,
        retry_mode=args.retry_mode,
        dry_run=args.dry_run,
        limit=args.limit,
        json_lines=args.json and args.verbose >= 1,
        run_id=args.run_id,
        sources=tuple(args.sources),
        files_from=args.files_from,
    )


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

    # Per-file lines: -v/--dry-run ones on stdout (JSON with --json -v); failures on
    # stderr, once each, above the progress bar; -q leaves only the failures.
    files = logging.getLogger("pipeline.files")
    files.propagate = False
    json_lines = args.json and args.verbose >= 1
    show_each = (args.verbose >= 1 or args.dry_run) and not args.quiet
    each = logging.StreamHandler(sys.stderr if args.json and not json_lines else sys.stdout)
    each.setFormatter(logging.Formatter("%(message)s"))
    each.addFilter(lambda record: record.levelno < logging.ERROR)
    failures = AboveTheBar(sys.stderr, args.run_id)
    failures.setFormatter(logging.Formatter("%(message)s"))
    failures.setLevel(logging.ERROR)
    files.handlers[:] = [failures] + ([each] if show_each else [])
    files.handlers += [log] if args.log_filename else []
    files.setLevel(logging.INFO if show_each or args.log_filename else logging.ERROR)


def _show_progress(args: argparse.Namespace) -> bool:
    """A live bar only for a person at a terminal who asked for no other output."""
    quiet = args.quiet or args.json or args.verbose or args.dry_run or args.no_progress
    return not quiet and sys.stderr.isatty()


def _not_beam_gcp_noise(record: logging.LogRecord) -> bool:
    """Beam warns on import that optional Google Cloud libraries are missing: not ours."""
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


def _check_sources(config: UploadConfig) -> None:
    """Every SOURCE exists (and --files-from has its one SOURCE directory), or exit 2."""
    from pipeline.bucket_source import resolve_buckets
    from pipeline.source import resolve_archives, resolve_sources

    if config.files_from is not None:
        if config.walk != "filesystem" or len(config.sources) != 1:
            raise UsageError("--files-from takes exactly one SOURCE directory (--walk filesystem)")
        if not os.path.isdir(config.sources[0]):
            raise UsageError(f"SOURCE {config.sources[0]!r} is not a directory (--files-from)")
        if not report.is_remote(config.files_from) and not os.path.isfile(config.files_from):
            raise UsageError(f"--files-from {config.files_from!r} is not a file")
        return
    resolve = {"tar": resolve_archives, "s3": resolve_buckets}.get(config.walk, resolve_sources)
    resolve(config.sources)


def _run(args: argparse.Namespace, beam_options: dict[str, Any]) -> int:
    from pipeline.bucket_source import split_s3_uri
    from pipeline.destinations import check_destinations
    from pipeline.output import summary_json, summary_text
    from pipeline.preflight import check_bucket
    from pipeline.progress import Progress
    from pipeline.run import (
        RunFailed,
        abort_open_uploads,
        is_local,
        pipeline_options,
        run_pipeline,
        temp_location,
    )

    # Beam and the per-file records make many short-lived objects: collect them less
    # often, and never re-scan what the imports left behind.
    gc.freeze()
    gc.set_threshold(_GC_THRESHOLD, 20, 20)
    config = build_config(args)
    _check_sources(config)
    check_bucket(config.endpoint, config.bucket, config.ca_bundle, config.profile)
    if config.walk == "s3":
        for uri in config.sources:
            check_bucket(config.endpoint, split_s3_uri(uri)[0], config.ca_bundle, config.profile)
    options = pipeline_options(beam_options)
    local = is_local(options)
    target = args.report or args.resume
    check_destinations(
        config, args.report, args.resume, temp_location(options),
        sharded_report=target is not None and (not local or _sharded(target)),
    )  # fmt: skip
    bar = Progress(config.run_id, sys.stderr) if _show_progress(args) else contextlib.nullcontext()
    started, started_wall = time.monotonic(), time.time()
    late_errors: list[str] = []  # what went wrong after the files were done
    try:
        with (
            interrupt.graceful(),
            interrupt.on_force(lambda: abort_open_uploads(config, started_wall)),
            records_for_run(config, args.report, args.resume, local, late_errors) as (
                config,
                resume_files,
            ),
            bar,
        ):
            summary = run_pipeline(config, beam_options, resume_files)
    except RunFailed as e:
        if interrupt.requested():
            print(
                f"{PROG}: interrupted: {e}; open multipart uploads under the prefix were "
                f"aborted. {_how_to_continue(args)}",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        print(f"{PROG}: error: the run failed: {e}", file=sys.stderr)
        return EXIT_FAILED
    elapsed = time.monotonic() - started
    if args.json:
        print(summary_json(summary, elapsed, config.dry_run))
    elif not args.quiet:
        print(summary_text(summary, elapsed, config.dry_run, failures_shown=local))
    for error in late_errors:
        print(f"{PROG}: error: {error}", file=sys.stderr)
    if interrupt.requested():
        if not args.quiet:
            print(_how_to_continue(args, summary.unwalked_shards > 0), file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FAILED if summary.failed or late_errors else EXIT_OK


def _how_to_continue(args: argparse.Namespace, walk_stopped: bool = False) -> str:
    """The line that ends an interrupted run: how to finish the job."""
    unseen = "the walk was stopped, so files it had not found yet are not counted. "
    unseen = unseen if walk_stopped else ""
    record = args.report or args.resume
    if record:
        again = f"run the same command with --resume {record} (what it records done is skipped)"
    else:
        again = "run the same command again to finish (what is already in the bucket is skipped)"
    return f"Interrupted: {unseen}To continue, {again}."


def _sharded(uri: str) -> bool:
    """A report path that names a directory (or s3:// prefix) of shards."""
    return uri.endswith("/") or os.path.isdir(uri)


@contextlib.contextmanager
def records_for_run(
    config: UploadConfig,
    report_uri: str | None,
    resume_uri: str | None,
    local: bool,
    late_errors: list[str],
) -> Iterator[tuple[UploadConfig, tuple[str, ...]]]:
    """The config with where the report goes, and the report files to resume from.

    On a local runner a report is one file; an s3:// one is copied in and out. On a
    distributed runner (or when PATH is a directory) the report is a directory or s3://
    prefix of shards that the workers write themselves.
    """
    from pipeline.resume import resume_files
    from pipeline.transport.boto import make_client

    report_uri = report_uri or resume_uri
    client = None
    if any(uri and report.is_remote(uri) for uri in (report_uri, resume_uri)):
        client = make_client(config.endpoint, config.ca_bundle, config.profile)
    if report_uri is not None and (not local or _sharded(report_uri)):
        if not report.is_remote(report_uri) and os.path.isfile(report_uri):
            raise UsageError(
                f"--report {report_uri!r} is a file; on a distributed runner the report is "
                "a directory of shards (or an s3:// prefix): name a directory"
            )
        resumed = resume_files(resume_uri, client) if resume_uri else ()
        yield dataclasses.replace(config, report_path=report_uri, report_shards=True), resumed
        return
    with tempfile.TemporaryDirectory(prefix="s3pp-report-") as tmp:
        resume_local = resume_uri
        if resume_uri and report.is_remote(resume_uri):
            resume_local = os.path.join(tmp, "resume.jsonl")
            report.stage_in(resume_uri, resume_local, client)
        report_local = report_uri
        if report_uri and report_uri == resume_uri:
            report_local = resume_local
        elif report_uri and report.is_remote(report_uri):
            report_local = os.path.join(tmp, "report.jsonl")

        def write_out() -> None:
            if report_uri and report_local and report.is_remote(report_uri):
                try:
                    report.stage_out(report_local, report_uri, client)
                except (OSError, ValueError) as e:
                    late_errors.append(f"cannot write the report to {report_uri}: {e}")

        def write_out_and_clean() -> None:  # a second Ctrl-C skips the with's own cleanup
            write_out()
            shutil.rmtree(tmp, ignore_errors=True)

        with interrupt.on_force(write_out_and_clean):
            try:
                resumed = resume_files(resume_local, client) if resume_local else ()
                yield dataclasses.replace(config, report_path=report_local), resumed
            finally:
                write_out()
