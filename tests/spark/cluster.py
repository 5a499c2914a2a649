"""A local Spark standalone cluster (a master, two workers) with a Spark Connect server.

Started with Spark's own launchers from the full ``pyspark`` package (the pip
package ships no ``start-*.sh`` scripts): ``spark-class`` runs the master and
the workers, ``spark-submit`` the Connect server attached to the master. All
of it binds to 127.0.0.1 on free ports and uses little memory.

Run it by hand to try chatdf's Spark engine (prints the ``sc://`` address)::

    SPARK_HOME=$(.spark-venv/bin/python -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))') \
        python tests/spark/cluster.py
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT = 180.0
"""Seconds the whole cluster may take to come up on a busy 2-core machine."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class LocalCluster:
    """Master + two workers + Connect server; :meth:`stop` ends every process."""

    def __init__(self, spark_home: str | Path, workers: int = 2) -> None:
        self.home = Path(spark_home)
        self.workers = workers
        self.folder = Path(tempfile.mkdtemp(prefix="chatdf-spark-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.master_port = free_port()
        self.connect_port = free_port()

    @property
    def remote(self) -> str:
        return f"sc://127.0.0.1:{self.connect_port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(self.home),
            SPARK_LOCAL_IP="127.0.0.1",
            SPARK_LOCAL_DIRS=str(self.folder / "local"),
            SPARK_LOG_DIR=str(self.folder / "logs"),
            SPARK_WORKER_DIR=str(self.folder / "work"),
            SPARK_NO_DAEMONIZE="1",
            PYSPARK_PYTHON=sys.executable,
        )
        env.pop("SPARK_REMOTE", None)
        env.pop("SPARK_CONNECT_MODE_ENABLED", None)
        return env

    def _launch(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            args, env=self._env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def start(self) -> LocalCluster:
        bin_dir = self.home / "bin"
        master = f"spark://127.0.0.1:{self.master_port}"
        self._launch(
            "master",
            [str(bin_dir / "spark-class"), "org.apache.spark.deploy.master.Master",
             "--host", "127.0.0.1", "--port", str(self.master_port),
             "--webui-port", str(free_port())],
        )
        self._wait(lambda: _listening(self.master_port), "the master")
        for i in range(self.workers):
            self._launch(
                f"worker{i}",
                [str(bin_dir / "spark-class"), "org.apache.spark.deploy.worker.Worker",
                 "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                 "--webui-port", str(free_port()), "--work-dir", str(self.folder / f"work{i}"),
                 master],
            )
        confs = {
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(self.connect_port),
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.memory": "1g",
            "spark.executor.memory": "768m",
            "spark.executor.cores": "1",
            "spark.cores.max": str(self.workers),
            "spark.sql.shuffle.partitions": "4",
            "spark.ui.enabled": "false",
            "spark.sql.ansi.enabled": "false",
        }
        args = [str(bin_dir / "spark-submit"), "--master", master,
                "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
                "--name", "chatdf-test-connect"]
        for key, value in confs.items():
            args += ["--conf", f"{key}={value}"]
        self._launch("connect", args)
        self._wait(lambda: _listening(self.connect_port), "the Spark Connect server")
        return self

    def _wait(self, ready: object, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if ready():  # type: ignore[operator]
                return
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                break
            time.sleep(0.5)
        tail = self.logs()
        self.stop()
        raise RuntimeError(f"{what} did not start; logs:\n{tail}")

    def logs(self, size: int = 4000) -> str:
        parts = []
        for log in sorted(self.folder.glob("*.log")):
            parts.append(f"--- {log.name}\n{log.read_bytes()[-size:].decode(errors='replace')}")
        return "\n".join(parts)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.procs.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def spark_home() -> str | None:
    """``CHATDF_TEST_SPARK_HOME``, else ``.spark-venv``'s pyspark next to this repo."""
    given = os.environ.get("CHATDF_TEST_SPARK_HOME")
    if given:
        return given
    root = Path(__file__).resolve().parents[2]
    found = sorted(root.glob(".spark-venv/lib/python3*/site-packages/pyspark"))
    return str(found[0]) if found and (found[0] / "bin" / "spark-submit").exists() else None


@contextlib.contextmanager
def running(home: str | Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(home).start()
    try:
        yield cluster
    finally:
        cluster.stop()


if __name__ == "__main__":
    home = spark_home()
    if home is None:
        sys.exit("Set SPARK_HOME or CHATDF_TEST_SPARK_HOME to a full pyspark install (pip install pyspark).")
    with running(os.environ.get("SPARK_HOME", home)) as cluster:
        print(f"Spark Connect at {cluster.remote} (Ctrl-C stops the cluster)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
