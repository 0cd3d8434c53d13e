"""The README's first command: start a local S3 server, upload a sample tree, show it.

    python -m examples.demo [--keep]

Everything happens on loopback; the server and its data are removed at the end unless
``--keep`` is given (then it runs until Ctrl-C so you can look around).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from devsupport.locals3 import LocalS3

BUCKET = "demo-bucket"
_COMMAND = [sys.executable, "-m", "pipeline"]


def make_sample_tree(root: str) -> None:
    files = {
        "index.html": "<!doctype html><title>demo</title><h1>Hello from s3-parallel-put</h1>\n",
        "css/site.css": "body { font-family: sans-serif; }\n" * 20,
        "js/app.js": "console.log('hello');\n" * 20,
        "data/report 2026.json": '{"rows": [1, 2, 3]}\n',
        "docs/naïve café.txt": "non-ASCII names are kept exactly\n",
        "img/pixel.bin": "",
    }
    for name, text in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    with open(os.path.join(root, "img/pixel.bin"), "wb") as f:
        f.write(os.urandom(64 * 1024))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the server running")
    args = parser.parse_args()
    with LocalS3() as s3, tempfile.TemporaryDirectory(prefix="s3pp-demo-") as tree:
        print(f"local S3 server (SeaweedFS) at {s3.endpoint_url}")
        client = s3.client()
        client.create_bucket(Bucket=BUCKET)
        make_sample_tree(tree)
        options = [
            "--bucket",
            BUCKET,
            "--prefix",
            "site/",
            "--gzip",
            "--endpoint-url",
            s3.endpoint_url,
        ]
        print("$ s3-parallel-put", " ".join(options), "--verbose", tree, flush=True)
        code = subprocess.call([*_COMMAND, *options, "--verbose", tree], env=s3.env())
        print(f"\nexit code {code}; the bucket now holds:")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for obj in page.get("Contents", []):
                head = client.head_object(Bucket=BUCKET, Key=obj["Key"])
                encoding = head.get("ContentEncoding", "")
                print(
                    f"  s3://{BUCKET}/{obj['Key']}  {obj['Size']} B  "
                    f"{head['ContentType']}  {encoding}"
                )
        print("\nrun it again: nothing changed, so `--put update` (the default) skips all:")
        print("$ s3-parallel-put", " ".join(options), "--json", tree, flush=True)
        subprocess.call([*_COMMAND, *options, "--json", tree], env=s3.env())
        if args.keep:
            print(
                f"\nserver kept at {s3.endpoint_url} (credentials in this process only); "
                "Ctrl-C to stop"
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return code


if __name__ == "__main__":
    raise SystemExit(main())
