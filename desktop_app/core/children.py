"""Every child process of this app, run one way on the asyncio loop (no Qt here: the window's qasync loop
and a plain asyncio loop drive it alike).

A child may announce itself with a ready line on stdout (a server's "listening on <url>"), then speaks JSON
lines: one object a line on stdout to us (delivered to a callback on the loop), one a line on stdin from us.
Each child stops when its stdin reaches EOF and asks the kernel for SIGTERM when its parent dies
(`die_with_parent`, PR_SET_PDEATHSIG), so none outlives the window even when the window is killed.

`stop()` escalates, each step with its own deadline: stdin EOF, then SIGTERM, then SIGKILL. It is awaited,
never waited for: nothing here blocks the loop's thread. `BlockingChild` is the same wrapper for scripts and
tests that have no loop of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from desktop_app.core.errors import PulseError

PR_SET_PDEATHSIG = 1
PARENT_PID_ENV = "PULSE_PARENT_PID"
LINE_LIMIT = 1 << 20  # a longer stdout line is not ours (a library printing): skipped
STDERR_LINES = 50  # the tail kept for an error message; the rest is read and dropped so the pipe never fills


def app_command(*verb_args: str) -> list[str]:
    """argv running a verb of this app: the same executable when frozen (PyInstaller), else this Python."""
    base = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "desktop_app"]
    return [*base, *verb_args]


def child_environment() -> dict[str, str]:
    """Unbuffered output (each report arrives when written) and our pid, which `die_with_parent` checks."""
    return dict(os.environ, PYTHONUNBUFFERED="1", **{PARENT_PID_ENV: str(os.getpid())})


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In the child: ask the kernel to send `sig` when the parent exits (Linux; elsewhere the stdin EOF guard
    remains). If the parent is already gone (it died before this ran), send it now."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return
    expected = os.environ.get(PARENT_PID_ENV)
    if expected and expected.isdigit() and os.getppid() != int(expected):
        os.kill(os.getpid(), sig)


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, default=str) + "\n").encode()


class ChildProcess:
    """`child = await ChildProcess.start(argv, name=..., on_message=...)`; `child.send({...})`;
    `await child.finished()` (every message delivered, the process gone); `await child.stop(...)`."""

    def __init__(self, process: asyncio.subprocess.Process, name: str,
                 on_message: Callable[[dict[str, Any]], None] | None) -> None:
        self.process = process
        self.name = name
        self.url: str | None = None  # what a server child announced on its ready line
        self._on_message = on_message
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._stderr_task = asyncio.ensure_future(self._drain_stderr())
        self._stdout_task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Task[int | None] | None = None

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        *,
        name: str,
        env: dict[str, str] | None = None,
        first: dict[str, Any] | None = None,
        ready: Callable[[str], str | None] | None = None,
        ready_timeout: float = 20.0,
        on_message: Callable[[dict[str, Any]], None] | None = None,
    ) -> ChildProcess:
        """Start `argv`; send `first` (a start command) at once; if `ready` is given, wait (at most
        `ready_timeout`) for the stdout line it maps to a URL. A failed, late or cancelled start kills the
        child before raising: nothing half-started stays behind."""
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=child_environment() if env is None else env,
                limit=LINE_LIMIT,
            )
        except OSError as exc:
            raise PulseError(f"Could not start the {name}: {exc}") from exc
        child = cls(process, name, on_message)
        try:
            if first is not None:
                child.send(first)
            if ready is not None:
                child.url = await asyncio.wait_for(child._announcement(ready), ready_timeout)
        except BaseException as exc:
            await child.stop(eof_s=0, term_s=0)
            if isinstance(exc, TimeoutError):
                raise PulseError(f"The {name} did not start within {ready_timeout:g} s.") from None
            raise
        child._stdout_task = asyncio.ensure_future(child._read_messages())
        return child

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def stderr_text(self) -> str:
        return "".join(self._stderr)

    def send(self, message: dict[str, Any]) -> None:
        """One command line to the child; dropped when it is already exiting (its own report says so)."""
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing():
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.write(encode(message))

    def close_stdin(self) -> None:
        """EOF: every child's signal to stop (what the parent's death looks like to it)."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()

    def signal(self, sig: int) -> None:
        """Send `sig` now without waiting (also when the loop is gone); nothing if the child has exited."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    async def finished(self) -> int:
        """The exit code, once every stdout message has been delivered and the process has exited."""
        if self._stdout_task is not None:
            await self._stdout_task
        code = await self.process.wait()
        await self._stderr_task
        return code

    def stop(self, eof_s: float = 5.0, term_s: float = 2.0, kill_s: float = 2.0) -> asyncio.Task[int | None]:
        """End the child: close stdin and allow `eof_s` for it to exit on its own, then SIGTERM and `term_s`,
        then SIGKILL and `kill_s`. The task's result is the exit code, or None if even SIGKILL did not end it
        within `kill_s` (stuck in the kernel). Stdin closes now, so the child hears it even if the loop never
        runs again. Calling again returns the same task; cancelling it kills the child."""
        self.close_stdin()
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop((eof_s, term_s, kill_s)))
        return self._stopping

    async def _stop(self, deadlines: tuple[float, float, float]) -> int | None:
        escalation = (signal.SIGTERM, signal.SIGKILL, None)
        try:
            for seconds, then in zip(deadlines, escalation, strict=True):
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(self.process.wait(), seconds)
                if then is not None:
                    self.signal(then)
            return None
        except asyncio.CancelledError:
            self.signal(signal.SIGKILL)  # whoever waited has gone: leave nothing behind
            raise

    async def _announcement(self, ready: Callable[[str], str | None]) -> str:
        assert self.process.stdout is not None
        while True:
            line = await self.process.stdout.readline()
            if not line:
                with contextlib.suppress(TimeoutError):  # its last words, if it said any
                    await asyncio.wait_for(asyncio.shield(self._stderr_task), 2.0)
                raise PulseError(f"The {self.name} failed to start: {self.stderr_text().strip()[-500:]}".strip())
            url = ready(line.decode("utf-8", "replace"))
            if url is not None:
                return url

    async def _read_messages(self) -> None:
        """Each JSON object on stdout to the callback, until stdout ends; stdout is always drained, so a
        child never blocks on a full pipe."""
        assert self.process.stdout is not None
        while True:
            try:
                line = await self.process.stdout.readline()
            except ValueError:  # over LINE_LIMIT: not ours
                continue
            if not line:
                return
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue  # not ours (a library printing)
            if isinstance(message, dict) and self._on_message is not None:
                try:
                    self._on_message(message)
                except Exception as exc:  # a bug in the receiver: to the excepthook, and keep draining
                    asyncio.get_running_loop().call_exception_handler(
                        {"message": f"{self.name}: a message handler failed", "exception": exc}
                    )

    async def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self._stderr.append(line.decode("utf-8", "replace"))


class BlockingChild:
    """A `ChildProcess` for callers without a loop (scripts, benchmarks, synchronous tests): it lives on a
    private loop on a daemon thread. `with BlockingChild(lambda: ChildProcess.start(...)) as child:`."""

    def __init__(self, start: Callable[[], Coroutine[Any, Any, ChildProcess]], timeout: float = 30.0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="child-process", daemon=True)
        self._thread.start()
        try:
            self.child = self._call(start(), timeout)
        except BaseException:
            self._close()
            raise
        self.url = self.child.url

    @property
    def pid(self) -> int:
        return self.child.pid

    @property
    def returncode(self) -> int | None:
        return self.child.returncode

    def stderr_text(self) -> str:
        return self.child.stderr_text()

    def stop(self, eof_s: float = 5.0, term_s: float = 2.0, kill_s: float = 2.0) -> int | None:
        """As `ChildProcess.stop`, waiting for it here (this caller has no loop to keep responsive)."""
        if self._loop.is_closed():
            return self.child.returncode

        async def stopping() -> int | None:
            return await self.child.stop(eof_s, term_s, kill_s)

        try:
            return self._call(stopping(), eof_s + term_s + kill_s + 1.0)
        finally:
            self._close()

    def _call(self, work: Coroutine[Any, Any, Any], timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def _close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> BlockingChild:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
