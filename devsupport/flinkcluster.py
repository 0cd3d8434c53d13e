"""A real standalone Flink cluster for tests: TaskManagers on hosts of their own.

``prepare()`` assembles, once, in a cache dir (``~/.cache/s3-parallel-put/flink-1.19.3``):

- ``flink/``: a FLINK_HOME for Flink 1.19.3, from PyPI but never installed: ``bin/`` and
  ``conf/`` from the ``apache-flink`` wheel, ``lib/`` and ``bin/bash-java-utils.jar``
  from the ``apache-flink-libraries`` sdist;
- ``jobserver/``: Beam's Flink job server, as ``lib/`` (the dependency closure of
  ``devsupport/flink/jobserver-pom.xml``, copied by Maven) and ``beam-flink-job-server.jar``,
  a jar holding only a manifest (Main-Class and a Class-Path naming ``lib/*.jar``), so
  that Beam's own ``--flink_job_server_jar`` starts it with ``java -jar``.

``FlinkCluster`` runs a JobManager and TaskManagers on "hosts" jm, tm1, tm2...: each a
network namespace behind a veth pair on a private bridge (``BridgeNetwork``,
10.213.X.0/24, no route anywhere else; the client and the test's S3 server use the
bridge's own address in the root namespace), with its own mount and UTS namespaces (a
private tmpfs ``/tmp``, its own ``/etc/hosts`` and hostname). A Beam Python worker pool
runs beside each TaskManager. The hosts see the machine's files but for /tmp: test data
goes to ``shared``, a directory under /var/tmp that the client and every host see at the
same path. Needs root.

    python -m devsupport.flinkcluster prepare
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from devsupport.privatetmp import shell_setup
from devsupport.service import Service

FLINK_VERSION = "1.19.3"
FLINK_MINOR = FLINK_VERSION.rsplit(".", 1)[0]
JOB_SERVER_MAIN = "org.apache.beam.runners.flink.FlinkJobServerDriver"
JOB_SERVER_POM = Path(__file__).resolve().parent / "flink" / "jobserver-pom.xml"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path.home() / ".cache" / "s3-parallel-put" / f"flink-{FLINK_VERSION}"
WORKER_POOL_PORT = 17777  # the same in every host's namespace: one --environment_config
RPC_PORT, REST_PORT = 6123, 8081  # Flink's defaults: the JobManager has a host of its own

_DOWNLOAD_TIMEOUT_S = 1800
_START_TIMEOUT_S = 180
_STOP_TIMEOUT_S = 20
_IP_TIMEOUT_S = 30
_REST_TIMEOUT_S = 10
_SHARED_ROOT = "/var/tmp"  # outside /tmp, which every TaskManager host has of its own
_MANIFEST_LINE = 70  # bytes; the jar spec allows 72 per manifest line
_networks = itertools.count()
# The job server's jars that a cluster's lib/ must not take: Flink's own (the cluster has
# its flink-dist) and a second SLF4J binding beside Flink's log4j one.
_NOT_IN_CLUSTER_LIB = ("flink-", "slf4j-simple-")

# Flink's config.yaml for this machine (2 cores): small JVMs, and a batch scheduler that
# keeps the parallelism asked for instead of choosing its own (else it ran every element
# on one TaskManager). The task slots and the restart strategy are FlinkCluster's.
_CLUSTER_CONFIG: dict[str, Any] = {
    "jobmanager.memory.process.size": "768m",
    "taskmanager.memory.process.size": "1280m",
    "taskmanager.memory.managed.fraction": 0.2,
    # A batch stage that feeds several exchanges (--delete joins the results with a
    # listing and counts them) sets up a sort-merge shuffle partition per exchange, each
    # wanting 512 network buffers by default: more network memory, fewer per partition.
    "taskmanager.memory.network.fraction": 0.25,
    "taskmanager.network.sort-shuffle.min-buffers": 128,
    "parallelism.default": 2,
    "execution.batch.adaptive.auto-parallelism.enabled": False,
    # Each job ships Beam's job server classpath (~150 MB) to every TaskManager's /tmp, a
    # tmpfs here: drop a finished job's copy after a minute rather than after an hour.
    "blob.service.cleanup.interval": 60,
}


RESTART_DELAY = "2 s"


def _cluster_settings(slots: int, restart_attempts: int) -> dict[str, Any]:
    """What a cluster's config.yaml sets beyond ``_CLUSTER_CONFIG``: its task slots and,
    with ``restart_attempts``, the fixed-delay restart strategy a user would set there."""
    settings: dict[str, Any] = {"taskmanager.numberOfTaskSlots": slots}
    if restart_attempts:
        settings.update({
            "restart-strategy.type": "fixed-delay",
            "restart-strategy.fixed-delay.attempts": restart_attempts,
            "restart-strategy.fixed-delay.delay": RESTART_DELAY,
        })  # fmt: skip
    return settings


class PrepareError(RuntimeError):
    """Flink or the Beam job server could not be downloaded or assembled."""


@dataclass(frozen=True)
class FlinkDist:
    """A prepared FLINK_HOME and the Beam job server jar that goes with it."""

    home: Path
    job_server_jar: Path


def _dist(cache: Path) -> FlinkDist:
    return FlinkDist(cache / "flink", cache / "jobserver" / "beam-flink-job-server.jar")


def _stamp() -> dict[str, str]:
    """What a prepared cache was made from; a different stamp means prepare again."""
    return {
        "flink": FLINK_VERSION,
        "pom_sha256": hashlib.sha256(JOB_SERVER_POM.read_bytes()).hexdigest(),
    }


def _is_prepared(cache: Path) -> bool:
    stamp = cache / "prepared.json"
    dist = _dist(cache)
    try:
        done = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return done == _stamp() and dist.job_server_jar.is_file() and (dist.home / "lib").is_dir()


def _beam_version_of_pom() -> str:
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(JOB_SERVER_POM).getroot()
    for dependency in root.iterfind("m:dependencies/m:dependency", namespace):
        if dependency.findtext("m:groupId", namespaces=namespace) == "org.apache.beam":
            return dependency.findtext("m:version", default="", namespaces=namespace)
    raise PrepareError(f"{JOB_SERVER_POM} names no org.apache.beam dependency")


def _check_versions() -> None:
    from apache_beam.version import __version__ as beam_version

    wanted = _beam_version_of_pom()
    if beam_version != wanted:
        raise PrepareError(
            f"apache-beam {beam_version} is installed but {JOB_SERVER_POM.name} pins the "
            f"Beam Flink job server {wanted}: they must be the same version"
        )


def _run_tool(command: list[str], what: str, cwd: Path) -> None:
    """Run a download tool; any failure is a PrepareError with the tool's last words."""
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    try:
        proc = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_DOWNLOAD_TIMEOUT_S,
        )
    except FileNotFoundError as e:
        raise PrepareError(f"{what}: {command[0]} is not installed") from e
    except subprocess.TimeoutExpired as e:
        raise PrepareError(f"{what}: no answer within {_DOWNLOAD_TIMEOUT_S} s") from e
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()[-25:]
        raise PrepareError(
            f"{what} failed (exit {proc.returncode}): {' '.join(command)}\n" + "\n".join(output)
        )


def _download_flink(work: Path) -> tuple[Path, Path]:
    """The apache-flink wheel and apache-flink-libraries sdist, from PyPI."""
    download = work / "pypi"
    _run_tool(
        [
            sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(download),
            f"apache-flink=={FLINK_VERSION}", f"apache-flink-libraries=={FLINK_VERSION}",
        ],
        f"downloading Flink {FLINK_VERSION} from PyPI",
        work,
    )  # fmt: skip
    wheels = sorted(download.glob(f"apache_flink-{FLINK_VERSION}-*.whl"))
    sdists = sorted(download.glob(f"apache[-_]flink[-_]libraries-{FLINK_VERSION}.tar.gz"))
    if not wheels or not sdists:
        found = sorted(path.name for path in download.iterdir())
        raise PrepareError(
            f"pip download gave {found}: expected an apache-flink {FLINK_VERSION} wheel "
            f"and the apache-flink-libraries {FLINK_VERSION} sdist"
        )
    return wheels[0], sdists[0]


def _extract_file(source: IO[bytes], target: Path, executable: bool = False) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out, length=1 << 20)
    target.chmod(0o755 if executable else 0o644)


def _extract_wheel(wheel: Path, home: Path) -> None:
    """bin/ and conf/ from the wheel's pyflink/."""
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            for part in ("bin", "conf"):
                prefix = f"pyflink/{part}/"
                if name.startswith(prefix) and not name.endswith("/"):
                    with archive.open(name) as member:
                        target = home / part / name[len(prefix) :]
                        _extract_file(member, target, executable=part == "bin")


def _extract_sdist(sdist: Path, home: Path) -> None:
    """lib/ from the sdist's deps/lib, and deps/bin/bash-java-utils.jar into bin/."""
    with tarfile.open(sdist) as archive:
        for info in archive:
            relative = info.name.split("/", 1)[-1]
            if not info.isfile():
                continue
            if relative.startswith("deps/lib/") and relative.endswith(".jar"):
                target = home / "lib" / Path(relative).name
            elif relative == "deps/bin/bash-java-utils.jar":
                target = home / "bin" / "bash-java-utils.jar"
            else:
                continue
            member = archive.extractfile(info)
            assert member is not None
            with member:
                _extract_file(member, target)


def _assemble_flink(work: Path) -> Path:
    """A FLINK_HOME from the apache-flink wheel and the apache-flink-libraries sdist."""
    wheel, sdist = _download_flink(work)
    home = work / "flink"
    _extract_wheel(wheel, home)
    _extract_sdist(sdist, home)
    for part in ("opt", "log"):
        (home / part).mkdir(exist_ok=True)
    needed = [
        home / "bin" / "taskmanager.sh",
        home / "bin" / "bash-java-utils.jar",
        home / "conf" / "config.yaml",
        home / "lib" / f"flink-dist-{FLINK_VERSION}.jar",
    ]
    missing = [str(path.relative_to(home)) for path in needed if not path.is_file()]
    if missing:
        raise PrepareError(f"Flink {FLINK_VERSION} from PyPI lacks {missing}")
    return home


def _manifest(main_class: str, class_path: list[str]) -> bytes:
    """A jar manifest, its long Class-Path folded into continuation lines."""
    lines = []
    for header in (
        "Manifest-Version: 1.0",
        "Created-By: devsupport/flinkcluster.py",
        f"Main-Class: {main_class}",
        "Class-Path: " + " ".join(class_path),
    ):
        data = header.encode("utf-8")
        lines.append(data[:_MANIFEST_LINE])
        rest = data[_MANIFEST_LINE:]
        while rest:
            lines.append(b" " + rest[: _MANIFEST_LINE - 1])
            rest = rest[_MANIFEST_LINE - 1 :]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _assemble_job_server(work: Path) -> Path:
    """lib/ with the job server's dependency closure, and a jar that names it."""
    out = work / "jobserver"
    lib = out / "lib"
    build = work / "maven"
    build.mkdir()
    shutil.copy(JOB_SERVER_POM, build / "pom.xml")
    _run_tool(
        ["mvn", "-q", "-B", "dependency:copy-dependencies", f"-DoutputDirectory={lib}"],
        "copying the Beam Flink job server's jars with Maven",
        build,
    )
    jars = sorted(path.name for path in lib.glob("*.jar"))
    runner = f"beam-runners-flink-{FLINK_MINOR}-{_beam_version_of_pom()}.jar"
    if runner not in jars:
        raise PrepareError(f"Maven copied {len(jars)} jars but not {runner}")
    manifest = _manifest(JOB_SERVER_MAIN, [f"lib/{name}" for name in jars])
    entry = zipfile.ZipInfo("META-INF/MANIFEST.MF", date_time=(1980, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(out / "beam-flink-job-server.jar", "w") as jar:
        jar.writestr(entry, manifest)  # the same bytes on every prepare
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``, so that two test runs prepare one cache once."""
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def prepare(cache: Path = DEFAULT_CACHE) -> FlinkDist:
    """Download and assemble Flink and the Beam job server into ``cache``, once."""
    _check_versions()
    if _is_prepared(cache):
        return _dist(cache)
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise PrepareError(f"{tool} is not installed; the Flink tests need Java 17 and Maven")
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / ".lock"):
        if _is_prepared(cache):
            return _dist(cache)
        with tempfile.TemporaryDirectory(dir=cache, prefix="prepare-") as tmp:
            work = Path(tmp)
            built = {"flink": _assemble_flink(work), "jobserver": _assemble_job_server(work)}
            for name, path in built.items():
                shutil.rmtree(cache / name, ignore_errors=True)
                path.rename(cache / name)
        (cache / "prepared.json").write_text(json.dumps(_stamp()))
    return _dist(cache)


def _ip(*args: str) -> str:
    """Run ``ip ARGS``; a failure raises with ip's own message."""
    proc = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=_IP_TIMEOUT_S, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def _link_exists(name: str) -> bool:
    proc = subprocess.run(
        ["ip", "link", "show", "dev", name], capture_output=True, timeout=_IP_TIMEOUT_S
    )
    return proc.returncode == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_pids(pids: list[int], deadline: float) -> list[int]:
    """SIGKILL ``pids`` and wait until they are gone; returns those still there."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    while time.monotonic() < deadline:
        pids = [pid for pid in pids if _pid_alive(pid)]
        if not pids:
            break
        time.sleep(0.1)
    return pids


class BridgeNetwork(Service):
    """A bridge on a private /24 in the root namespace, and network namespaces on it.

    The bridge has ``host_ip`` (.1); each namespace gets the next address on a veth pair
    and a loopback, and no route but its /24, so it reaches the host and its peers only.
    Names carry the pid, so leftovers of a killed run never clash with a new one.
    """

    def __init__(self) -> None:
        self._tag = f"{os.getpid()}{next(_networks) % 10}"  # interface names: 15 chars
        self.bridge = f"s3pp{self._tag}br"
        self.host_ip = ""
        self._prefix = ""
        self.namespaces: list[str] = []
        self._veths: list[str] = []

    def _pick_subnet(self) -> str:
        used = _ip("-4", "-o", "addr", "show")
        start = os.getpid() % 250
        for step in range(250):
            prefix = f"10.213.{(start + step) % 250 + 1}."
            if f" {prefix}" not in used:
                return prefix
        raise RuntimeError("no free 10.213.X.0/24 subnet for the test bridge")

    def start(self) -> BridgeNetwork:
        if os.geteuid() != 0:
            raise RuntimeError("the test Flink cluster needs root (ip netns, veth, bridge)")
        self._prefix = self._pick_subnet()
        self.host_ip = self._prefix + "1"
        _ip("link", "add", self.bridge, "type", "bridge")
        try:
            _ip("addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        except BaseException:
            self.stop()
            raise
        return self

    def add_namespace(self, name: str) -> tuple[str, str]:
        """A new namespace ``s3pp-<tag>-<name>`` on the bridge; returns (netns, ip)."""
        index = len(self.namespaces) + 1
        netns = f"s3pp-{self._tag}-{name}"
        ip = f"{self._prefix}{10 + index}"
        host_end, ns_end = f"s3pp{self._tag}h{index}", f"s3pp{self._tag}n{index}"
        _ip("netns", "add", netns)
        self.namespaces.append(netns)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        self._veths.append(host_end)
        _ip("link", "set", host_end, "master", self.bridge)
        _ip("link", "set", host_end, "up")
        _ip("link", "set", ns_end, "netns", netns)
        _ip("-n", netns, "link", "set", ns_end, "name", "eth0")
        _ip("-n", netns, "addr", "add", f"{ip}/24", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        return netns, ip

    def pids(self, netns: str) -> list[int]:
        """Every process in ``netns``."""
        return [int(pid) for pid in _ip("netns", "pids", netns).split()]

    def stop(self) -> None:
        """Kill what is left in the namespaces, then delete them, the veths and the bridge."""
        errors = []
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for netns in self.namespaces:
            try:
                left = _kill_pids(self.pids(netns), deadline)
                if left:
                    errors.append(f"processes {left} in {netns} survived SIGKILL")
                _ip("netns", "del", netns)
            except RuntimeError as e:
                errors.append(str(e))
        for link in [*self._veths, self.bridge]:  # a veth goes with its namespace
            if _link_exists(link):
                try:
                    _ip("link", "del", link)
                except RuntimeError as e:
                    if _link_exists(link):  # else its namespace took it meanwhile (the
                        errors.append(str(e))  # kernel frees a namespace's links late)
        self.namespaces, self._veths = [], []
        if errors:
            raise RuntimeError("cleaning up the test network: " + "; ".join(errors))


def _set(config: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted Flink key in a nested YAML mapping."""
    *parents, leaf = key.split(".")
    for part in parents:
        config = config.setdefault(part, {})
    config[leaf] = value


def _listens(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((ip, port)) == 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class _Process:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass(frozen=True)
class Host:
    """One host of the cluster: its hostname, network namespace, address, and the pid
    of the ``sleep`` that holds its mount and UTS namespaces (``nsenter --target``)."""

    hostname: str
    netns: str
    ip: str
    anchor_pid: int


class FlinkCluster(Service):
    """A JobManager host and ``taskmanagers`` TaskManager hosts on ``network``.

    A context manager. Each TaskManager host runs a Beam Python worker pool beside its
    TaskManager; ``worker_env`` is the pools' environment (the S3 credentials a real
    worker host would have), with the venv's bin/ put first on PATH because the pool
    starts its workers as ``python``. Each TaskManager has ``slots`` task slots; jobs
    run with one subtask per TaskManager (``beam_args``), so ``slots=2`` leaves room for
    a job to restart on the TaskManagers left when one is lost. ``restart_attempts``
    gives the cluster a fixed-delay restart strategy (that many attempts,
    ``RESTART_DELAY`` apart); without it a job fails when a task fails. ``runner_in_lib``
    puts Beam's Flink runner and its dependencies (the job server's ``lib/`` but Flink's
    own jars and a second logging binding) in the cluster's ``lib/``, as a cluster set up
    for jobs that ship no jars (``python -m pipeline.jobserver --runner_jars_on_cluster``).
    """

    def __init__(
        self,
        dist: FlinkDist,
        network: BridgeNetwork,
        worker_env: Mapping[str, str],
        taskmanagers: int = 2,
        slots: int = 1,
        restart_attempts: int = 0,
        runner_in_lib: bool = False,
    ) -> None:
        self.dist = dist
        self.network = network
        self.taskmanagers = taskmanagers
        self.runner_in_lib = runner_in_lib
        self._settings = _cluster_settings(slots, restart_attempts)
        self._worker_env = dict(worker_env)
        self.workdir = Path()
        self.jobmanager: Host | None = None
        self.hosts: list[Host] = []  # the TaskManager hosts
        self._processes: list[_Process] = []

    @property
    def ip(self) -> str:
        """The JobManager's address."""
        assert self.jobmanager is not None, "the cluster is not started"
        return self.jobmanager.ip

    @property
    def rest_url(self) -> str:
        return f"http://{self.ip}:{REST_PORT}"

    @property
    def shared(self) -> Path:
        """A directory that the client and every host see at this path."""
        return self.workdir / "shared"

    def beam_args(self) -> list[str]:
        """Beam options that run a pipeline on this cluster (with Beam's own job server)."""
        return [
            "--runner", "FlinkRunner",
            "--flink_master", f"{self.ip}:{REST_PORT}",
            "--flink_version", FLINK_MINOR,
            "--flink_job_server_jar", str(self.dist.job_server_jar),
            "--artifacts_dir", str(self.shared / "artifacts"),
            "--environment_type", "EXTERNAL",
            "--environment_config", f"localhost:{WORKER_POOL_PORT}",
            "--parallelism", str(self.taskmanagers),
        ]  # fmt: skip

    def rest(self, path: str) -> Any:
        """GET a JSON document from the JobManager's REST API."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.rest_url + path, timeout=_REST_TIMEOUT_S) as response:
            return json.loads(response.read())

    def job_ids(self) -> set[str]:
        """Every job the JobManager knows, running or done."""
        return {job["jid"] for job in self.rest("/jobs/overview")["jobs"]}

    def taskmanager_ids(self) -> set[str]:
        return {tm["id"] for tm in self.rest("/taskmanagers")["taskmanagers"]}

    def records_read(self, job_id: str) -> list[tuple[str, dict[str, int]]]:
        """Records each TaskManager's subtasks read, per vertex of a job, in job order."""
        table = []
        for vertex in self.rest(f"/jobs/{job_id}")["vertices"]:
            per_taskmanager: dict[str, int] = {}
            for subtask in self.rest(f"/jobs/{job_id}/vertices/{vertex['id']}")["subtasks"]:
                taskmanager = subtask["taskmanager-id"]
                read = subtask["metrics"]["read-records"]
                per_taskmanager[taskmanager] = per_taskmanager.get(taskmanager, 0) + read
            table.append((vertex["name"], per_taskmanager))
        return table

    def subtasks(self, job_id: str, label: str) -> list[dict[str, Any]]:
        """The subtasks (status, attempt, taskmanager-id...) of the job's vertices whose
        names hold ``label`` (a transform's label: Beam names Flink's operators after
        them)."""
        found = []
        for vertex in self.rest(f"/jobs/{job_id}")["vertices"]:
            if label in vertex["name"]:
                found += self.rest(f"/jobs/{job_id}/vertices/{vertex['id']}")["subtasks"]
        return found

    def hosts_running(self, job_id: str, label: str) -> list[Host]:
        """The TaskManager hosts that run subtasks of the job's vertices named ``label``."""
        addresses = {task["taskmanager-id"].split(":")[0] for task in self.subtasks(job_id, label)}
        return [host for host in self.hosts if host.ip in addresses]

    def kill_taskmanager(self, host: Host) -> None:
        """SIGKILL the TaskManager of ``host`` (its JVM and the script that started it),
        as a machine that dies would lose it; its worker pool is left running."""
        for process in self._processes:
            if process.name == host.hostname:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.proc.pid, signal.SIGKILL)
                process.proc.wait(timeout=_STOP_TIMEOUT_S)
                return
        raise KeyError(host.hostname)

    def logs(self, lines: int = 30) -> str:
        """The last lines of every process's log, for a failure message."""
        return "\n".join(
            f"--- {process.name} ({process.log}):\n{_tail(process.log, lines)}"
            for process in self._processes
        )

    def log_of(self, name: str) -> Path:
        """The console log of one process: ``jobmanager``, ``tm1``, ``pool-tm1``..."""
        for process in self._processes:
            if process.name == name:
                return process.log
        raise KeyError(name)

    def _write_config(self, name: str, settings: dict[str, Any]) -> Path:
        conf = self.workdir / "conf" / name
        shutil.copytree(self.dist.home / "conf", conf)
        config = yaml.safe_load((conf / "config.yaml").read_text())
        for key, value in {**_CLUSTER_CONFIG, **self._settings, **settings}.items():
            _set(config, key, value)
        (conf / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        return conf

    def _flink_env(self, name: str, conf: Path) -> dict[str, str]:
        logs = self.workdir / "logs" / name
        pids = self.workdir / "run" / name
        for path in (logs, pids):
            path.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(FLINK_CONF_DIR=str(conf), FLINK_LOG_DIR=str(logs), FLINK_PID_DIR=str(pids))
        env.update(FLINK_LIB_DIR=str(self._lib_dir()))
        return env

    def _lib_dir(self) -> Path:
        """Flink's lib/, or with ``runner_in_lib`` one that also links the runner's jars."""
        if not self.runner_in_lib:
            return self.dist.home / "lib"
        lib = self.workdir / "lib"
        if not lib.is_dir():
            lib.mkdir()
            runner_jars = [
                jar
                for jar in sorted((self.dist.job_server_jar.parent / "lib").glob("*.jar"))
                if not jar.name.startswith(_NOT_IN_CLUSTER_LIB)
            ]
            for jar in [*sorted((self.dist.home / "lib").glob("*.jar")), *runner_jars]:
                (lib / jar.name).symlink_to(jar)
        return lib

    def _spawn(
        self, name: str, command: list[str], env: Mapping[str, str]
    ) -> subprocess.Popen[bytes]:
        log = self.workdir / "logs" / f"{name}.out"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                command,
                env=dict(env),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes.append(_Process(name, proc, log))
        return proc

    def _start_host(self, hostname: str) -> Host:
        """A network namespace with mount and UTS namespaces held by a ``sleep``."""
        netns, ip = self.network.add_namespace(hostname)
        hosts_file = self.workdir / "hosts" / hostname
        hosts_file.parent.mkdir(exist_ok=True)
        hosts_file.write_text(f"127.0.0.1 localhost\n{ip} {hostname}\n")
        # A private /tmp that still shows the project and Flink where they may lie under
        # /tmp (a CI clone, a HOME there): the host runs them, it does not share files.
        kept = [REPO, Path(sys.prefix), self.dist.home, self.dist.job_server_jar.parent]
        stage = self.workdir / "stage" / hostname
        private_tmp = shell_setup(kept, stage)
        setup = (
            f'{private_tmp} && mount --bind "$2" /etc/hosts && hostname "$1" && exec sleep infinity'
        )
        anchor = self._spawn(
            f"host-{hostname}",
            ["ip", "netns", "exec", netns, "unshare", "--mount", "--uts",
             "--propagation", "private", "sh", "-c", setup, "sh", hostname, str(hosts_file)],
            os.environ,
        )  # fmt: skip
        self._wait_for_exec(anchor, "sleep")
        return Host(hostname, netns, ip, anchor.pid)

    def _enter(self, host: Host) -> list[str]:
        """A command prefix that runs in ``host``'s namespaces, in the shared dir."""
        return [
            "nsenter", "--target", str(host.anchor_pid), "--mount", "--uts", "--net",
            f"--wd={self.shared}", "--",
        ]  # fmt: skip

    def _start_jobmanager(self) -> None:
        # In its own namespace, because the JobManager's REST handler uploads a submitted
        # job's jars to its blob server at "localhost": bound to the bridge address alone,
        # the blob server refuses that; bound to every address, it stays on this host.
        self.jobmanager = host = self._start_host("jm")
        conf = self._write_config(
            "jobmanager",
            {
                "jobmanager.bind-host": "0.0.0.0",
                "jobmanager.rpc.address": host.ip,
                "jobmanager.rpc.port": RPC_PORT,
                "rest.address": host.ip,
                "rest.bind-address": "0.0.0.0",
                "rest.port": REST_PORT,
            },
        )
        command = [str(self.dist.home / "bin" / "jobmanager.sh"), "start-foreground"]
        self._spawn("jobmanager", [*self._enter(host), *command], self._flink_env("jm", conf))

    def _start_taskmanager(self, hostname: str) -> Host:
        """A TaskManager host: its worker pool, then its TaskManager."""
        host = self._start_host(hostname)
        pool_env = dict(self._worker_env)
        path = pool_env.get("PATH", os.defpath)
        pool_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
        pool_env["XDG_CACHE_HOME"] = "/tmp/cache"  # the host's own, in its private /tmp
        pool = [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main"]
        pool += ["--service_port", str(WORKER_POOL_PORT)]
        self._spawn(f"pool-{hostname}", [*self._enter(host), *pool], pool_env)
        conf = self._write_config(
            hostname,
            {
                "jobmanager.rpc.address": self.ip,
                "jobmanager.rpc.port": RPC_PORT,
                "taskmanager.host": host.ip,
                "taskmanager.bind-host": host.ip,
            },
        )
        taskmanager = [str(self.dist.home / "bin" / "taskmanager.sh"), "start-foreground"]
        env = self._flink_env(hostname, conf)
        self._spawn(hostname, [*self._enter(host), *taskmanager], env)
        return host

    def _wait_for_exec(self, proc: subprocess.Popen[bytes], comm: str) -> None:
        """Wait until ``proc`` has exec'd ``comm`` (its setup before that succeeded)."""
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"host setup exited with {proc.returncode}\n{self.logs()}")
            with contextlib.suppress(OSError):
                if Path(f"/proc/{proc.pid}/comm").read_text().strip() == comm:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"host setup did not finish within {_START_TIMEOUT_S} s")

    def _check_alive(self) -> None:
        for process in self._processes:
            if process.proc.poll() is not None:
                raise RuntimeError(
                    f"{process.name} exited with {process.proc.returncode} while the cluster "
                    f"started\n{self.logs()}"
                )

    def _wait_ready(self) -> None:
        """Until the REST overview shows every TaskManager and every pool listens."""
        deadline = time.monotonic() + _START_TIMEOUT_S
        seen: Any = None
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError, ValueError):
                seen = self.rest("/overview")
                pools = all(_listens(host.ip, WORKER_POOL_PORT) for host in self.hosts)
                if seen.get("taskmanagers") == self.taskmanagers and pools:
                    return
            time.sleep(0.5)
        raise RuntimeError(
            f"Flink did not show {self.taskmanagers} TaskManagers with worker pools within "
            f"{_START_TIMEOUT_S} s (overview: {seen})\n{self.logs()}"
        )

    def start(self) -> FlinkCluster:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"s3pp-flink-{os.getpid()}-", dir=_SHARED_ROOT))
        self.workdir.chmod(0o755)
        try:
            self.shared.mkdir()
            self._start_jobmanager()
            for index in range(1, self.taskmanagers + 1):
                self.hosts.append(self._start_taskmanager(f"tm{index}"))
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what outlives the timeout, remove workdir."""
        processes, self._processes = self._processes, []
        for process in reversed(processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        survivors = []
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.proc.pid, signal.SIGKILL)
            try:
                process.proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                survivors.append(process.name)
        hosts, self.hosts, self.jobmanager = [self.jobmanager, *self.hosts], [], None
        try:
            for host in filter(None, hosts):  # workers that left their pool's process group
                deadline = time.monotonic() + _STOP_TIMEOUT_S
                survivors += map(str, _kill_pids(self.network.pids(host.netns), deadline))
        finally:
            if self.workdir != Path():
                shutil.rmtree(self.workdir, ignore_errors=True)
        if survivors:
            raise RuntimeError(f"Flink cluster processes outlived SIGKILL: {survivors}")


def main(argv: list[str]) -> int:
    if argv != ["prepare"]:
        print("usage: python -m devsupport.flinkcluster prepare", file=sys.stderr)
        return 2
    try:
        dist = prepare()
    except PrepareError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"FLINK_HOME {dist.home}\njob server {dist.job_server_jar}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
