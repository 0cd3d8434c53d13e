"""The command line's arguments: the tool's own options beside Beam's, parsed as one.

``parse`` returns the tool's options and the Beam options the user set. Beam's options
are parsed only when some are on the line: then the tool's options are added to Beam's
own parser, so one parser knows every option (a value is never taken for a SOURCE).

An option that neither knows is a runner's own (Flink's ``--number_of_execution_retries``,
Spark's, Dataflow's), which Beam's Python SDK hands on to the runner: it passes through
when ``--runner`` names one that is not local (``pipeline.plan.RunnerKind``), as Beam
reads it: ``--name=value``, ``--name value`` when the next word does not start with
``-``, else a switch. Anything else is a usage error, one line and exit code 2: an
unknown option on the local runner, a name in this tool's style (``--dashed-name``), and
a name close to one of this tool's options (``--bukcet``, ``--concurency``).
"""

from __future__ import annotations

import argparse
import difflib
import platform
import re
from collections.abc import Sequence
from typing import Any, NoReturn

from pipeline import __version__, options
from pipeline.errors import EXIT_USAGE
from pipeline.plan import runner_kind

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
without --runner the local FnApiRunner runs the job, offline. With a cluster runner, its
own options pass through too (--runner FlinkRunner ... --checkpointing_interval 1000).
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
    """Our options, and the Beam options the user set (as a dict for PipelineOptions),
    with the runner's own options among them when the runner takes them.

    With Beam options on the line, ours are added to Beam's own parser (which Beam hands
    over through its public hook, ``get_all_options(add_extra_args_fn=...)``), so one
    parser knows every option: a value is never taken for a SOURCE.
    """
    if any(arg in ("-h", "--help", "--version") for arg in argv):
        return help_parser().parse_args(argv), {}
    ours, unknown = help_parser().parse_known_args(argv)
    if not unknown:
        return ours, {}  # no Beam options: spare building a parser of all of Beam's
    parser = _beam_parser()
    known, unknown = parser.parse_known_args(argv)
    kept, passed = _runner_options(argv, unknown, known, parser)
    args = parser.parse_args(kept)  # exits 2 on what is left: a stray word
    beam = {
        dest: value
        for dest, value in vars(args).items()
        if dest not in vars(ours)
        and value != parser.get_default(dest)
        and value not in (None, False, [])
    }
    return args, {**beam, **passed}


def _beam_parser() -> argparse.ArgumentParser:
    """Beam's parser of every option its Python SDK knows, with ours added (ours win:
    --region, --profile), reporting errors as ours do."""
    from apache_beam.options.pipeline_options import PipelineOptions

    built: list[argparse.ArgumentParser] = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=built.append)
    parser = built[0]
    parser.prog = PROG
    parser.error = _Parser(prog=PROG).error  # type: ignore[method-assign]
    parser.conflict_handler = "resolve"
    parser.allow_abbrev = False  # --buck is no --bucket, nor a prefix of a runner option
    add_arguments(parser)
    return parser


_RUNNER_OPTION = re.compile(r"--([A-Za-z][A-Za-z0-9_]*)(=.*)?", re.DOTALL)
_CLUSTER_RUNNERS = "FlinkRunner, SparkRunner, DataflowRunner or PortableRunner"


def _runner_options(
    argv: Sequence[str],
    unknown: list[str],
    known: argparse.Namespace,
    parser: argparse.ArgumentParser,
) -> tuple[list[str], dict[str, Any]]:
    """``argv`` without the options that neither this tool nor Beam knows, and those
    options as Beam's own parser reads what it does not know (``retain_unknown_options``):
    ``--name=value``; ``--name value`` when the next word does not start with ``-``; else
    ``--name``, a switch (True). Given twice, a list. A usage error unless the runner
    takes them and each looks like a runner's option rather than a slip in one of ours."""
    strays = [arg for arg in unknown if arg.startswith("-")]
    if not strays:
        return list(argv), {}
    ours = _our_option_names()
    names = {arg: _runner_option(arg, ours, parser) for arg in strays}
    if runner_kind(known.runner, known.direct_running_mode, known.flink_master).local:
        parser.error(
            f"unrecognized arguments: {' '.join(strays)} (options that neither this tool "
            f"nor Beam knows go on to the runner only with --runner {_CLUSTER_RUNNERS})"
        )
    kept: list[str] = []
    passed: dict[str, Any] = {}
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            kept += argv[index - 1 :]
            break
        if arg not in strays:
            kept.append(arg)
            continue
        name, value = names[arg]
        if value is None and index < len(argv) and not argv[index].startswith("-"):
            value, index = argv[index], index + 1
        value = True if value is None else value
        previous = passed.get(name)
        passed[name] = value if previous is None else [*_listed(previous), value]
    return kept, passed


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _runner_option(
    arg: str, ours: dict[str, str], parser: argparse.ArgumentParser
) -> tuple[str, Any]:
    """(name, value after '=' or None) of an option for the runner; a usage error for
    what is no runner's option: a single dash, a dashed name (this tool's style), or a
    name close to one of ours."""
    match = _RUNNER_OPTION.fullmatch(arg)
    if match is None:
        parser.error(f"unrecognized arguments: {arg}")
    name = match.group(1)
    close = difflib.get_close_matches(name.lower(), ours, n=1, cutoff=0.8)
    if close:
        parser.error(f"unrecognized arguments: {arg} (did you mean {ours[close[0]]}?)")
    value = match.group(2)
    return name, None if value is None else value[1:]


def _our_option_names() -> dict[str, str]:
    """This tool's long options as a runner would spell them (``multipart_threshold``),
    each to ours (``--multipart-threshold``), to catch slips in them before they pass on."""
    names = {}
    for action in help_parser()._actions:  # argparse lists the options nowhere public
        for option in action.option_strings:
            if option.startswith("--"):
                names[option[2:].replace("-", "_")] = option
    return names
