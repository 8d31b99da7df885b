"""A throwaway PostgreSQL server for tests: Debian's initdb + pg_ctl, a loopback port, a socket folder.

PostgreSQL refuses to run as root, so when the suite runs as root the server runs as `nobody` (its data
folder chowned to it). Tests that need the server FAIL when it cannot start: a missing server is a broken
environment (README setup installs `postgresql`), not a reason to skip.

Two roles: `pulse` (superuser, trusted on 127.0.0.1: the tests' own connections) and `secret_user` with a
password (scram-sha-256), for the password paths.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.scenarios import free_port

SUPERUSER = "pulse"
SECRET_USER = "secret_user"
SECRET_PASSWORD = "s3cr3t-Pa55"
HBA = f"""\
local all all trust
host all {SUPERUSER} 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""


def postgres_bin() -> Path:
    """The newest /usr/lib/postgresql/*/bin holding initdb (Debian's layout), else initdb on PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL's initdb was not found: install the `postgresql` package (see README setup).")



@dataclass
class PostgresServer:
    root: Path
    port: int
    bindir: Path
    user: str | None  # the OS user the server runs as (None: ourselves)
    durable: bool = False  # fsync on (benchmarks); tests run without it

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres", user: str = SUPERUSER, query: str = "") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}" + (f"?{query}" if query else "")

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        kwargs = {"user": self.user} if self.user else {}
        result = subprocess.run([str(self.bindir / argv[0]), *argv[1:]], capture_output=True, text=True,
                                check=False, cwd=self.root, timeout=120, **kwargs)
        return _checked(result) if check else result

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 -c max_connections=40 "
            "-c shared_buffers=64MB" + ("" if self.durable else " -c fsync=off -c full_page_writes=off")
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w",
                  "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        self.stop("immediate")  # like a crash: connections cut without goodbye
        self.start()

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run SQL as the superuser through psql; returns its unaligned output."""
        result = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
             self.url(database), "-c", statement],
            capture_output=True, text=True, timeout=60, check=False,
        )
        return _checked(result).stdout.strip()

    def new_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.sql(f'CREATE DATABASE "{name}"')
        return name

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.root / "server.log").read_text(errors="replace").splitlines()[-lines:])
        return ""


def _checked(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    if result.returncode != 0:
        raise RuntimeError(f"{result.args[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return result


OWNER_FILE = "owner.pid"  # the pid of the process that started the server


def stop_orphaned_servers(bindir: Path) -> None:
    """pg_ctl daemonizes the server, so a test run killed outright (no teardown) leaves it running: stop and
    remove every server of ours whose starting process is gone."""
    for root in Path(tempfile.gettempdir()).glob("pulse-pg-*"):
        with contextlib.suppress(OSError, ValueError):
            owner = int((root / OWNER_FILE).read_text())
            if Path(f"/proc/{owner}").exists():
                continue
            data = root / "data"
            if (data / "postmaster.pid").exists():
                kwargs = {"user": data.owner()} if os.geteuid() == 0 else {}
                subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                               capture_output=True, check=False, timeout=60, cwd=root, **kwargs)
            shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def running_server(*, durable: bool = False) -> Iterator[PostgresServer]:
    """Start a server in a new temp folder; stop it and remove the folder afterwards."""
    bindir = postgres_bin()
    stop_orphaned_servers(bindir)
    root = Path(tempfile.mkdtemp(prefix="pulse-pg-"))
    (root / OWNER_FILE).write_text(str(os.getpid()))
    user = None
    if os.geteuid() == 0:
        user = "nobody"
        entry = pwd.getpwnam(user)
        os.chmod(root, 0o755)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(root=root, port=free_port(), bindir=bindir, user=user, durable=durable)
    try:
        (root / "sock").mkdir()
        if user:
            os.chown(root / "sock", pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
            pwfile = root / "pw"
            pwfile.write_text("unused-superuser-password\n")
            os.chown(pwfile, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        else:
            pwfile = root / "pw"
            pwfile.write_text("unused-superuser-password\n")
        server._run("initdb", "-D", str(server.data), "-U", SUPERUSER, "-E", "UTF8", "--no-locale",
                    "--auth=trust", f"--pwfile={pwfile}", "--no-sync")
        hba = server.data / "pg_hba.conf"
        hba.write_text(HBA)
        if user:
            os.chown(hba, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        server.start()
        server.sql(f"CREATE ROLE {SECRET_USER} LOGIN PASSWORD '{SECRET_PASSWORD}' CREATEDB")
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
