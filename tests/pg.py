"""A real PostgreSQL server for the tests: initdb into a temporary folder, ``pg_ctl start`` on a
free loopback port, as the unprivileged user ``nobody`` when the tests run as root (the data
folder is handed to that user). The server binaries are looked for in PATH and in
``/usr/lib/postgresql/*/bin``; tests that need the server skip only where none is found.

``postgres_server`` (session-scoped) yields a :class:`Server`; ``server.new_database()`` makes
an empty database and returns its URL.
"""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def find_bin_dir() -> Path | None:
    """The folder of ``pg_ctl``, ``initdb`` and ``postgres`` (newest version first)."""
    found = shutil.which("pg_ctl")
    candidates = [Path(os.path.realpath(found)).parent] if found else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                           key=lambda p: int(Path(p).parent.name)
                                           if Path(p).parent.name.isdigit() else 0,
                                           reverse=True)]
    for folder in candidates:
        if all((folder / b).is_file() for b in ("pg_ctl", "initdb", "postgres")):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A PostgreSQL server on 127.0.0.1:``port``; superuser ``echem``, trust authentication."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        # /tmp when root: the user the server runs as must reach the folder
        self.root = Path(tempfile.mkdtemp(prefix="echem-pg-", dir="/tmp" if os.geteuid() == 0
                                          and os.path.isdir("/tmp") else None))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.user = "echem"
        self._names = itertools.count(1)
        self._as = {}
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    def _run(self, *args: str, timeout: float = 120) -> None:
        env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "HOME": str(self.root)}
        done = subprocess.run([str(self.bin_dir / args[0]), *args[1:]], capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=self.root, **self._as)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stderr}{done.stdout}{log}")

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.root} -c fsync=off "
                   "-c max_connections=60")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", password: str | None = None,
            driver: str = "postgresql") -> str:
        auth = f"{self.user}:{password}" if password else self.user
        return f"{driver}://{auth}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        """A plain psycopg connection (autocommit), independent of the store."""
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=self.user,
                               dbname=database, autocommit=True)

    def new_database(self) -> str:
        """A new empty database; its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with self.connect() as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server():
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (pg_ctl, initdb) in PATH or "
                    "/usr/lib/postgresql/*/bin")
    server = Server(bin_dir)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    deadline = time.monotonic() + 30
    while True:  # pg_ctl -w waited for the server; make sure it takes TCP connections
        try:
            server.connect().close()
            break
        except Exception:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.2)
    yield server
    server.stop()
