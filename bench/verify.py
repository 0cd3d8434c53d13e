"""The bucket side: make buckets, list and empty prefixes, check what landed."""

from __future__ import annotations

import hashlib
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.tools import Target

NOOP_SETTLE_S = 1.1  # Last-Modified has 1 s resolution: a rewrite must show
_ETAG_SAMPLE = 200
_DELETE_BATCH = 1000
_DELETE_THREADS = 8
_SHOWN_KEYS = 3
_WARM_UP_KEY = "bench-warm-up"


@dataclass(frozen=True)
class Remote:
    """One listed object."""

    size: int
    etag: str
    last_modified: str


def s3_client(endpoint: str, access_key: str, secret_key: str, region: str) -> Any:
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=16)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=config,
    )


def make_bucket(client: Any, bucket: str) -> None:
    """Create ``bucket`` and write and delete one object, so that the server has set up
    its storage for the bucket before anything is timed."""
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key=_WARM_UP_KEY, Body=b"warm-up")
    client.delete_object(Bucket=bucket, Key=_WARM_UP_KEY)


def list_prefix(client: Any, target: Target) -> dict[str, Remote]:
    """Every object under the target's prefix, by key relative to the prefix."""
    start = target.prefix + "/"
    found: dict[str, Remote] = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=target.bucket, Prefix=start):
        for obj in page.get("Contents", []):
            found[obj["Key"][len(start) :]] = Remote(
                size=obj["Size"],
                etag=obj["ETag"].strip('"'),
                last_modified=obj["LastModified"].isoformat(),
            )
    return found


def empty_prefix(client: Any, target: Target) -> int:
    """Delete every object under the target's prefix; returns how many."""
    keys = [f"{target.prefix}/{rel}" for rel in list_prefix(client, target)]
    batches = [keys[i : i + _DELETE_BATCH] for i in range(0, len(keys), _DELETE_BATCH)]

    def delete(batch: list[str]) -> None:
        objects = [{"Key": key} for key in batch]
        answer = client.delete_objects(
            Bucket=target.bucket, Delete={"Objects": objects, "Quiet": True}
        )
        if answer.get("Errors"):
            raise RuntimeError(f"delete failed in {target.bucket}: {answer['Errors'][0]}")

    with ThreadPoolExecutor(_DELETE_THREADS) as pool:
        list(pool.map(delete, batches))
    return len(keys)


def check_landed(
    local: dict[str, int], remote: dict[str, Remote], source: Path, md5_sample: bool
) -> str:
    """'' if every local file is there with its size (and sampled MD5s match), else why."""
    problem = _compare_keys(local, remote)
    if problem or not md5_sample:
        return problem
    rng = random.Random(0)
    sample = rng.sample(sorted(local), min(_ETAG_SAMPLE, len(local)))
    for rel in sample:
        etag = remote[rel].etag
        if "-" in etag:
            continue  # multipart ETag: not an MD5 of the whole body
        if _md5(source / rel) != etag:
            return f"ETag of {rel} is not the local MD5"
    return ""


def check_unchanged(before: dict[str, Remote], after: dict[str, Remote]) -> str:
    """'' if no object was rewritten (same ETag and Last-Modified), else which were."""
    changed = sorted(key for key in before if before[key] != after.get(key))
    if not changed:
        return ""
    return f"{len(changed)} objects rewritten by a no-op run, e.g. {changed[:_SHOWN_KEYS]}"


def describe_check(local: dict[str, int], remote: dict[str, Remote], md5_sample: bool) -> str:
    """What a passed check covered, for the results table."""
    multipart = sum("-" in obj.etag for obj in remote.values())
    parts = [f"{len(local)} keys+sizes"]
    if md5_sample and multipart < len(remote):
        parts.append(f"{min(_ETAG_SAMPLE, len(local))} MD5s")
    return "ok: " + ", ".join(parts)


def check_sync(
    local: dict[str, int],
    remote: dict[str, Remote],
    source: Path,
    md5_sample: bool,
    before: dict[str, Remote] | None,
) -> tuple[str, str]:
    """(why the bucket is wrong or '', what a passed check covered) after an upload, or
    after a re-sync of it when ``before`` holds the objects the upload left."""
    problem = check_landed(local, remote, source, md5_sample)
    if not problem and before is not None:
        problem = check_unchanged(before, remote)
    if problem:
        return problem, ""
    checked = describe_check(local, remote, md5_sample)
    return "", checked + (", none rewritten" if before is not None else "")


def _compare_keys(local: dict[str, int], remote: dict[str, Remote]) -> str:
    missing = sorted(set(local) - set(remote))
    extra = sorted(set(remote) - set(local))
    wrong = sorted(k for k in local.keys() & remote.keys() if local[k] != remote[k].size)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing, e.g. {missing[:_SHOWN_KEYS]}")
    if extra:
        problems.append(f"{len(extra)} unexpected, e.g. {extra[:_SHOWN_KEYS]}")
    if wrong:
        problems.append(f"{len(wrong)} with wrong size, e.g. {wrong[:_SHOWN_KEYS]}")
    return "; ".join(problems)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
