"""Upload a tree from inside your own Beam pipeline, and print what happened to each file.

    python examples/compose.py --endpoint-url http://127.0.0.1:8333 --bucket B SOURCE...

``UploadSources`` takes a PCollection of SOURCE paths and returns one ``FileResult`` per
file, so the upload composes with the rest of a pipeline: here the results are counted
per action and printed. Credentials come from the standard AWS chain.
"""

from __future__ import annotations

import argparse

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import FileResult, UploadConfig, UploadSources

LOCAL_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


def _line(result: FileResult) -> str:
    detail = result.error or result.reason
    return f"{result.action.value:>12}  {result.key}  ({detail})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--endpoint-url")
    parser.add_argument("sources", nargs="+", metavar="SOURCE")
    args, beam_args = parser.parse_known_args()

    config = UploadConfig.for_bucket(args.bucket, args.endpoint_url, prefix=args.prefix)
    options = PipelineOptions(beam_args or ["--runner", LOCAL_RUNNER])
    with beam.Pipeline(options=options) as p:
        results = (
            p
            | "Sources" >> beam.Create(args.sources)
            | "Upload" >> UploadSources(config, spread=False)
        )
        _ = results | "PrintEach" >> beam.Map(lambda result: print(_line(result)))
        _ = (
            results
            | "ByAction" >> beam.Map(lambda result: result.action.value)
            | "Count" >> beam.combiners.Count.PerElement()
            | "PrintCounts" >> beam.MapTuple(lambda action, n: print(f"{action}: {n}"))
        )


if __name__ == "__main__":
    main()
