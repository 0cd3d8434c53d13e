"""The command line's arguments: the tool's own options beside Beam's, parsed as one.

``parse`` returns the tool's options and the Beam options the user set. Beam's options
are parsed only when some are on the line: then the tool's options are added to Beam's
own parser, so one parser knows every option (a value is never taken for a SOURCE, and
an option neither knows is a usage error, one line and exit code 2).
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Sequence
from typing import Any, NoReturn

from pipeline import __version__, options
from pipeline.errors import EXIT_USAGE

PROG = "s3-parallel-put"
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
