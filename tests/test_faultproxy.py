"""Tests of the fault-injecting proxy: against SeaweedFS with boto3, and against a tiny
local HTTP/1.1 server for the framing cases SeaweedFS does not produce."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import random
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from devsupport.faultproxy import FAULT_KINDS, Drop, FaultProxy, FaultRules
from devsupport.locals3 import LocalS3

MIB = 1024 * 1024
# botocore turns retries={"max_attempts": N} into N + 1 attempts; this is exactly one.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def _client(proxy: FaultProxy, server: LocalS3, config: Config = NO_RETRIES) -> Any:
    return server.client(proxy.endpoint_url, config)


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _exists(client: Any, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "404"
        return False
    return True


def _faults(stats: dict[str, int]) -> dict[str, int]:
    return {kind: stats[kind] for kind in FAULT_KINDS if stats[kind]}


def _proxy_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("faultproxy-")]


# ---------------------------------------------------------------- rules


def test_rules_validate_and_spread() -> None:
    with pytest.raises(ValueError):
        FaultRules(slowdown=1.5)
    with pytest.raises(ValueError):
        FaultRules(slowdown=0.6, internal_error=0.6)
    with pytest.raises(ValueError):
        FaultRules(stall_seconds=3600)
    with pytest.raises(ValueError):
        FaultRules.uniform(0.2, ["nonsense"])
    rules = FaultRules.uniform(0.3, ["slowdown", "stall", "truncate_body"], stall_seconds=0.1)
    assert rules.probabilities()["stall"] == pytest.approx(0.1)
    assert sum(rules.probabilities().values()) == pytest.approx(0.3)
    assert rules.stall_seconds == 0.1


# ---------------------------------------------------------------- SeaweedFS, no faults


def test_round_trips_without_faults(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    small, big = _data(1000, 1), _data(6 * MIB, 2)
    with FaultProxy(s3_server.port, FaultRules(), seed=0) as proxy:
        client = _client(proxy, s3_server)
        client.put_object(Bucket=bucket, Key="small", Body=small)
        client.put_object(Bucket=bucket, Key="big", Body=big)
        client.put_object(Bucket=bucket, Key="empty", Body=b"")
        assert client.get_object(Bucket=bucket, Key="small")["Body"].read() == small
        assert client.get_object(Bucket=bucket, Key="big")["Body"].read() == big
        assert client.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""
        assert client.head_object(Bucket=bucket, Key="big")["ContentLength"] == len(big)
        ranged = client.get_object(Bucket=bucket, Key="big", Range="bytes=100-199")
        assert ranged["Body"].read() == big[100:200]

        multi = _data(11 * MIB, 3)
        source = tmp_path / "multi.bin"
        source.write_bytes(multi)
        transfer = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
        client.upload_file(str(source), bucket, "multi", Config=transfer)
        assert client.get_object(Bucket=bucket, Key="multi")["Body"].read() == multi

        listed = client.list_objects_v2(Bucket=bucket)["Contents"]
        assert {obj["Key"]: obj["Size"] for obj in listed} == {
            "small": len(small),
            "big": len(big),
            "empty": 0,
            "multi": len(multi),
        }
        with pytest.raises(ClientError) as missing:
            client.get_object(Bucket=bucket, Key="nope")
        assert missing.value.response["Error"]["Code"] == "NoSuchKey"
        stats = proxy.stats
    # Bytes went through the proxy intact and SeaweedFS accepted the signatures.
    assert s3_client.get_object(Bucket=bucket, Key="multi")["Body"].read() == multi
    assert stats["requests"] == stats["forwarded"] >= 14
    assert stats["upstream_errors"] == 0
    assert _faults(stats) == {}
    assert stats["connections"] < stats["requests"]  # keep-alive connections were reused


def test_chunked_request_body_reaches_seaweedfs(
    s3_server: LocalS3, s3_client: Any, bucket: str
) -> None:
    """A SigV4-signed PUT with Transfer-Encoding: chunked, sent by hand through the proxy."""
    data = _data(300_000, 4)
    with FaultProxy(s3_server.port) as proxy:
        host = f"127.0.0.1:{proxy.port}"
        request = botocore.awsrequest.AWSRequest(
            "PUT",
            f"http://{host}/{bucket}/chunked",
            headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "Transfer-Encoding": "chunked"},
        )
        credentials = botocore.credentials.Credentials(s3_server.access_key, s3_server.secret_key)
        botocore.auth.SigV4Auth(credentials, "s3", s3_server.region).add_auth(request)
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.putrequest("PUT", f"/{bucket}/chunked", skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        for name, value in request.headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        for start in range(0, len(data), 70_000):
            piece = data[start : start + 70_000]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"")
        conn.close()
    assert s3_client.get_object(Bucket=bucket, Key="chunked")["Body"].read() == data


# ---------------------------------------------------------------- SeaweedFS, one fault each

ERROR_ANSWERS = [
    ("slowdown", 503, "SlowDown"),
    ("internal_error", 500, "InternalError"),
    ("request_timeout", 400, "RequestTimeout"),
    ("not_implemented", 501, "NotImplemented"),
]


@pytest.mark.parametrize(("kind", "status", "code"), ERROR_ANSWERS)
def test_error_answers(
    s3_server: LocalS3, s3_client: Any, bucket: str, kind: str, status: int, code: str
) -> None:
    s3_client.put_object(Bucket=bucket, Key="there", Body=b"x")
    with FaultProxy(s3_server.port, FaultRules.uniform(1.0, [kind])) as proxy:
        client = _client(proxy, s3_server)
        with pytest.raises(ClientError) as put:
            client.put_object(Bucket=bucket, Key="k", Body=_data(100_000))
        with pytest.raises(ClientError) as get:
            client.get_object(Bucket=bucket, Key="there")
        with pytest.raises(ClientError) as head:
            client.head_object(Bucket=bucket, Key="there")
        stats = proxy.stats
    for error in (put.value, get.value, head.value):
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert put.value.response["Error"]["Code"] == code
    assert get.value.response["Error"]["Code"] == code
    assert head.value.response["Error"]["Code"] == str(status)  # HEAD answers have no body
    # botocore's S3 region redirector answers a 400 to HeadObject with a HeadBucket of its own.
    seen = 4 if status == 400 else 3
    assert (stats["requests"], stats["forwarded"], _faults(stats)) == (seen, 0, {kind: seen})
    assert not _exists(s3_client, bucket, "k")


def test_reset_request(s3_server: LocalS3, s3_client: Any, bucket: str) -> None:
    s3_client.put_object(Bucket=bucket, Key="there", Body=b"x")
    with FaultProxy(s3_server.port, FaultRules(reset_request=1.0)) as proxy:
        client = _client(proxy, s3_server)
        with pytest.raises(ConnectionClosedError):
            client.put_object(Bucket=bucket, Key="k", Body=_data(1 * MIB))
        with pytest.raises(ConnectionClosedError):
            client.get_object(Bucket=bucket, Key="there")
        stats = proxy.stats
    assert (stats["requests"], stats["forwarded"], _faults(stats)) == (2, 0, {"reset_request": 2})
    assert not _exists(s3_client, bucket, "k")


def test_reset_response(s3_server: LocalS3, s3_client: Any, bucket: str) -> None:
    data = _data(1 * MIB, 5)
    s3_client.put_object(Bucket=bucket, Key="there", Body=data)
    with FaultProxy(s3_server.port, FaultRules(reset_response=1.0)) as proxy:
        client = _client(proxy, s3_server)
        with pytest.raises(ConnectionClosedError):
            client.put_object(Bucket=bucket, Key="k", Body=b"forwarded, answer lost")
        # The head usually arrives and the body read fails; a fast RST may beat the head.
        with pytest.raises((ResponseStreamingError, ConnectionClosedError)):
            client.get_object(Bucket=bucket, Key="there")["Body"].read()
        stats = proxy.stats
    assert (stats["requests"], stats["forwarded"], _faults(stats)) == (2, 2, {"reset_response": 2})
    assert _exists(s3_client, bucket, "k")  # the request itself was forwarded


def test_truncate_body(s3_server: LocalS3, s3_client: Any, bucket: str) -> None:
    data = _data(1 * MIB, 6)
    s3_client.put_object(Bucket=bucket, Key="there", Body=data)
    with FaultProxy(s3_server.port, FaultRules(truncate_body=1.0)) as proxy:
        client = _client(proxy, s3_server)
        body = client.get_object(Bucket=bucket, Key="there")["Body"]
        with pytest.raises(ResponseStreamingError, match="IncompleteRead"):
            body.read()
        with pytest.raises(ConnectionClosedError):  # no body: cut inside the status line
            client.put_object(Bucket=bucket, Key="k", Body=b"x")
        stats = proxy.stats
    assert (stats["requests"], stats["forwarded"], _faults(stats)) == (2, 2, {"truncate_body": 2})


def test_stall(s3_server: LocalS3, s3_client: Any, bucket: str) -> None:
    s3_client.put_object(Bucket=bucket, Key="there", Body=b"abc")
    rules = FaultRules(stall=1.0, stall_seconds=1.0)
    with FaultProxy(s3_server.port, rules) as proxy:
        impatient = NO_RETRIES.merge(Config(read_timeout=0.3))
        with pytest.raises(ReadTimeoutError):
            _client(proxy, s3_server, impatient).get_object(Bucket=bucket, Key="there")
        proxy.rules = FaultRules(stall=1.0, stall_seconds=0.3)
        started = time.monotonic()
        got = _client(proxy, s3_server).get_object(Bucket=bucket, Key="there")["Body"].read()
        assert got == b"abc"
        assert time.monotonic() - started >= 0.3
        stats = proxy.stats
    assert (stats["requests"], stats["forwarded"], _faults(stats)) == (2, 2, {"stall": 2})


def test_corrupt_request_body_with_checksum_is_rejected(
    s3_server: LocalS3, s3_client: Any, bucket: str
) -> None:
    with FaultProxy(s3_server.port, FaultRules(corrupt_request_body=1.0)) as proxy:
        client = _client(proxy, s3_server)
        with pytest.raises(ClientError) as put:
            client.put_object(
                Bucket=bucket, Key="k", Body=_data(200_000, 7), ChecksumAlgorithm="CRC32"
            )
        # A request without a body has nothing to corrupt: forwarded untouched, not counted.
        client.list_objects_v2(Bucket=bucket)
        stats = proxy.stats
    # What SeaweedFS answers (its message talks about Content-MD5 even for a CRC32 mismatch).
    assert put.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert put.value.response["Error"]["Code"] == "BadDigest"
    assert (stats["requests"], stats["forwarded"]) == (2, 2)
    assert _faults(stats) == {"corrupt_request_body": 1}
    assert not _exists(s3_client, bucket, "k")


# ---------------------------------------------------------------- SeaweedFS, rules


def test_predicate_max_faults_and_rule_swap(s3_server: LocalS3, bucket: str) -> None:
    rules = FaultRules(slowdown=1.0, max_faults=2, predicate=lambda method, _t: method == "GET")
    with FaultProxy(s3_server.port, rules) as proxy:
        client = _client(proxy, s3_server)
        client.put_object(Bucket=bucket, Key="k", Body=b"v")  # PUT is never faulted
        for _ in range(2):
            with pytest.raises(ClientError, match="SlowDown"):
                client.get_object(Bucket=bucket, Key="k")
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"  # budget spent
        proxy.rules = rules  # a new budget
        with pytest.raises(ClientError, match="SlowDown"):
            client.get_object(Bucket=bucket, Key="k")
        assert proxy.stats["slowdown"] == 3


def test_a_held_request_is_dropped_or_let_go(
    s3_server: LocalS3, s3_client: Any, bucket: str
) -> None:
    """before_forward holds PUTs until told; then it drops one (the client's connection
    is reset, nothing reaches the server) and lets the other through."""
    let_go = threading.Event()
    held: list[str] = []

    def hold(method: str, target: str) -> None:
        if method == "PUT":
            held.append(target)
            let_go.wait(10)
            if target.endswith("/dropped"):
                raise Drop(target)

    with FaultProxy(s3_server.port) as proxy, ThreadPoolExecutor(2) as pool:
        proxy.before_forward = hold
        client = _client(proxy, s3_server)
        puts = {
            key: pool.submit(client.put_object, Bucket=bucket, Key=key, Body=b"x")
            for key in ("dropped", "kept")
        }
        deadline = time.monotonic() + 10
        while len(held) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(held) == [f"/{bucket}/dropped", f"/{bucket}/kept"]
        assert not _exists(s3_client, bucket, "kept")  # held: not forwarded yet
        let_go.set()
        with pytest.raises(ConnectionClosedError):
            puts["dropped"].result(10)
        puts["kept"].result(10)
        stats = proxy.stats
    assert (stats["requests"], stats["forwarded"], stats["dropped"]) == (2, 1, 1)
    assert _exists(s3_client, bucket, "kept") and not _exists(s3_client, bucket, "dropped")


def test_same_seed_same_faults(s3_server: LocalS3, bucket: str) -> None:
    def pattern(seed: int) -> list[bool]:
        with FaultProxy(s3_server.port, FaultRules(internal_error=0.5), seed=seed) as proxy:
            client = _client(proxy, s3_server)
            failed = []
            for _ in range(24):
                try:
                    client.head_bucket(Bucket=bucket)
                    failed.append(False)
                except ClientError:
                    failed.append(True)
            assert proxy.stats["internal_error"] == sum(failed)
            return failed

    first = pattern(7)
    assert 0 < sum(first) < len(first)
    assert pattern(7) == first
    assert pattern(8) != first


def test_retries_get_through_mixed_faults(s3_server: LocalS3, s3_client: Any, bucket: str) -> None:
    # BadDigest and NotImplemented are final
    kinds = [
        kind for kind in FAULT_KINDS if kind not in ("corrupt_request_body", "not_implemented")
    ]
    rules = FaultRules.uniform(0.3, kinds, stall_seconds=0.05)
    config = Config(retries={"max_attempts": 10, "mode": "standard"}, max_pool_connections=16)
    rng = random.Random(9)
    objects = {f"obj-{i:03d}": rng.randbytes(rng.choice([0, 1, 1000, 70_000])) for i in range(100)}
    with FaultProxy(s3_server.port, rules, seed=9) as proxy:
        client = _client(proxy, s3_server, config)

        def put(key: str) -> None:
            client.put_object(Bucket=bucket, Key=key, Body=objects[key])

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(put, objects))
        stats = proxy.stats
    stored = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            stored[obj["Key"]] = s3_client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    assert stored == objects
    assert sum(_faults(stats).values()) >= 10, stats
    answered = sum(stats[k] for k in ("slowdown", "internal_error", "request_timeout"))
    assert stats["requests"] == stats["forwarded"] + answered + stats["reset_request"]


# ---------------------------------------------------------------- a tiny local upstream


class _Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True
    received: list[tuple[str, str, list[tuple[str, str]], bytes]]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Upstream

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                data += self.rfile.read(size)
                self.rfile.read(2)
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            return data
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _reply(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        if "Transfer_Encoding" not in headers and "Connection" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_PUT(self) -> None:
        body = self._read_body()
        self.server.received.append((self.command, self.path, list(self.headers.items()), body))
        self._reply(200, hashlib.sha256(body).hexdigest().encode())

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1234")
        self.end_headers()

    def do_GET(self) -> None:
        if self.path == "/chunked":
            self._reply(200, b"", Transfer_Encoding="chunked")
            self.wfile.write(b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n")
        elif self.path == "/until-close":
            self._reply(200, b"", Connection="close")
            self.wfile.write(b"no length, " * 1000)
            self.close_connection = True
        elif self.path == "/no-content":
            self.send_response(204)
            self.end_headers()
        elif self.path == "/not-modified":
            self.send_response(304)
            self.send_header("ETag", '"x"')
            self.end_headers()
        else:
            self._reply(200, _data(int(self.path.rsplit("/", 1)[1])))


@pytest.fixture(scope="module")
def upstream() -> Iterator[_Upstream]:
    server = _Upstream(("127.0.0.1", 0), _Handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _port(server: _Upstream) -> int:
    return int(server.server_address[1])


def test_response_framings_on_one_connection(upstream: _Upstream) -> None:
    with FaultProxy(_port(upstream)) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)

        def get(method: str, path: str) -> tuple[int, bytes]:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, response.read()

        assert get("GET", "/chunked") == (200, b"hello, world")
        assert get("HEAD", "/anything") == (200, b"")
        assert get("GET", "/no-content") == (204, b"")
        assert get("GET", "/not-modified") == (304, b"")
        assert get("GET", "/bytes/3000000") == (200, _data(3_000_000))
        assert get("GET", "/until-close") == (200, b"no length, " * 1000)
        assert proxy.stats["connections"] == 1  # all but the last kept the connection open
        assert get("GET", "/bytes/10") == (200, _data(10))  # http.client reconnects
        conn.close()
        stats = proxy.stats
    assert (stats["connections"], stats["requests"], stats["forwarded"]) == (2, 7, 7)


def test_request_bytes_forwarded_intact(upstream: _Upstream) -> None:
    upstream.received.clear()
    body = _data(500_000, 11)
    with FaultProxy(_port(upstream)) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        headers = {"X-Amz-Thing": "a  b", "Expect": "100-continue"}
        conn.request("PUT", "/put/one?x=1&y", body=body, headers=headers)
        assert conn.getresponse().read() == hashlib.sha256(body).hexdigest().encode()
        chunks = [body[i : i + 65_536] for i in range(0, len(body), 65_536)]
        conn.request("PUT", "/put/two", body=iter(chunks), encode_chunked=True)
        assert conn.getresponse().read() == hashlib.sha256(body).hexdigest().encode()
        conn.close()
    (m1, p1, h1, b1), (m2, p2, h2, b2) = upstream.received
    assert (m1, p1, b1, m2, p2, b2) == ("PUT", "/put/one?x=1&y", body, "PUT", "/put/two", body)
    assert ("Host", f"127.0.0.1:{proxy.port}") in h1  # the client's Host, naming the proxy
    assert ("X-Amz-Thing", "a  b") in h1
    assert ("Transfer-Encoding", "chunked") in h2


def _aws_chunked(payload: bytes, chunk: int) -> tuple[bytes, list[range]]:
    """``payload`` in aws-chunked framing, and where its data lies in the framed bytes."""
    framed, spans = b"", []
    for start in range(0, len(payload), chunk):
        piece = payload[start : start + chunk]
        framed += b"%x;chunk-signature=%s\r\n" % (len(piece), b"0" * 64)
        spans.append(range(len(framed), len(framed) + len(piece)))
        framed += piece + b"\r\n"
    trailer = b"0;chunk-signature=" + b"0" * 64 + b"\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    return framed + trailer, spans


@pytest.mark.parametrize("outer_chunked", [False, True])
def test_corruption_flips_one_payload_byte(upstream: _Upstream, outer_chunked: bool) -> None:
    """Exactly one bit of one byte changes, inside aws-chunked data, never in its framing."""
    upstream.received.clear()
    framed, spans = _aws_chunked(_data(100_000, 12), 32_768)
    headers = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": "100000"}
    with FaultProxy(_port(upstream), FaultRules(corrupt_request_body=1.0)) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        if outer_chunked:
            pieces = [framed[i : i + 10_000] for i in range(0, len(framed), 10_000)]
            conn.request("PUT", "/c", body=iter(pieces), headers=headers, encode_chunked=True)
        else:
            conn.request("PUT", "/c", body=framed, headers=headers)
        conn.getresponse().read()
        conn.close()
        assert proxy.stats["corrupt_request_body"] == 1
    received = upstream.received[0][3]
    assert len(received) == len(framed)
    diffs = [i for i, (a, b) in enumerate(zip(received, framed, strict=True)) if a != b]
    assert len(diffs) == 1
    assert received[diffs[0]] ^ framed[diffs[0]] == 0x01
    assert any(diffs[0] in span for span in spans)


def test_error_answer_is_s3_xml_after_draining_the_body(upstream: _Upstream) -> None:
    """Without Expect the body is read first, so the client gets a clean answer, no RST."""
    with FaultProxy(_port(upstream), FaultRules(slowdown=1.0)) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("PUT", "/bucket/a&b.txt?partNumber=1", body=_data(2 * MIB))
        response = conn.getresponse()
        body = response.read()
        conn.close()
        assert proxy.stats["forwarded"] == 0
    assert response.status == 503
    assert response.getheader("Connection") == "close"
    assert response.getheader("Content-Type") == "application/xml"
    assert int(response.getheader("Content-Length", "-1")) == len(body)
    error = ET.fromstring(body)
    assert error.tag == "Error"
    assert error.findtext("Code") == "SlowDown"
    assert error.findtext("Message") == "Please reduce your request rate."
    assert error.findtext("Resource") == "/bucket/a&b.txt"
    assert error.findtext("RequestId") == response.getheader("x-amz-request-id")


def test_stop_is_prompt_and_complete(upstream: _Upstream) -> None:
    rules = FaultRules(stall=1.0, stall_seconds=30, predicate=lambda _m, t: t == "/stall/1")
    outcome: list[BaseException | int] = []
    proxy = FaultProxy(_port(upstream), rules)
    with proxy:
        idle = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        idle.request("GET", "/bytes/5")
        assert idle.getresponse().read() == _data(5)  # stays open, kept alive

        def stalled() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
            try:
                conn.request("GET", "/stall/1")
                outcome.append(conn.getresponse().status)
            except (OSError, http.client.HTTPException) as error:
                outcome.append(error)

        waiter = threading.Thread(target=stalled)
        waiter.start()
        deadline = time.monotonic() + 5
        while proxy.stats["stall"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.stats["stall"] == 1
        started = time.monotonic()
    assert time.monotonic() - started < 3
    waiter.join(5)
    assert outcome and isinstance(outcome[0], BaseException)  # cut off, not answered late
    assert _proxy_threads() == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2).close()
    idle.close()


def test_connection_cap(upstream: _Upstream) -> None:
    with FaultProxy(_port(upstream), max_connections=2) as proxy:
        held = [socket.create_connection(("127.0.0.1", proxy.port), timeout=5) for _ in range(2)]
        deadline = time.monotonic() + 5
        while proxy.stats["connections"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        try:  # the third is cut off: RST (reset may even beat connect's return) or EOF
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as extra:
                extra.sendall(b"GET /bytes/1 HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = extra.recv(100)
        except (ConnectionResetError, BrokenPipeError):
            answer = b""
        assert answer == b""
        assert proxy.stats["rejected_connections"] == 1
        for sock in held:
            sock.close()
