"""One ingest run at a time, on the asyncio loop: the worker child and, for the demo, the demo server child.

Qt-free: the workspace (core/workspace.py) owns one `IngestRun`; the window's `IngestController` only turns
its events into Qt signals. The worker (the hidden `ingest-worker` verb, core/ingest/protocol.py) gets the
whole config as one JSON document; its JSON-lines reports arrive on the loop as `stats` events.

Stopping is awaited, never waited for: `stop()` closes the worker's stdin (it flushes and exits), then ends
the demo server, each step with a deadline (protocol.STOP_DEADLINES). Children never outlive the app: each
sees its stdin reach EOF when we die, and the kernel sends it SIGTERM (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from desktop_app.core.errors import PulseError
from desktop_app.core.events import Event

if TYPE_CHECKING:  # the worker's side loads with the first run: the window's frame shows without it
    from desktop_app.core.children import ChildProcess
    from desktop_app.core.ingest.config import IngestConfig
    from desktop_app.core.ingest.stats import IngestStats

Phase = Literal["starting", "running", "stopped"]


@dataclass(frozen=True)
class IngestState:
    """Where the run is: `starting` (children on their way; `demo` when it is the demo), `running` (the
    worker took `config`), `stopped` (every child gone; `final` = the last counts, None if it never ran)."""

    phase: Phase
    config: IngestConfig | None = None
    final: IngestStats | None = None
    demo: bool = False


class IngestRun:
    """`await run.start(config)`, `await run.start_demo(path, table=..., rate=...)`, `await run.stop()`.
    Events (on the loop thread): `stats`, `state`, and `error` for what goes wrong after a start."""

    def __init__(self) -> None:
        self.stats: Event[IngestStats] = Event("ingest_stats")
        self.state: Event[IngestState] = Event("ingest_state")
        self.error: Event[PulseError] = Event("error")
        self.config: IngestConfig | None = None
        self.last_stats: IngestStats | None = None
        self._worker: ChildProcess | None = None
        self._demo: ChildProcess | None = None
        self._task: asyncio.Task[None] | None = None
        self._started: asyncio.Future[bool] | None = None
        self._final: IngestStats | None = None
        self._reported_final = False
        self._stop_requested = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def demo_url(self) -> str | None:
        return self._demo.url if self._demo is not None else None

    @property
    def demo_pid(self) -> int | None:
        return self._demo.pid if self._demo is not None else None

    @property
    def worker_pid(self) -> int | None:
        return self._worker.pid if self._worker is not None else None

    def rows_per_second(self) -> float | None:
        """Rows written per second over the run's last two seconds; None when no ingest runs."""
        if not self.running or self.last_stats is None:
            return None
        return self.last_stats.recent_rows_per_s

    # -- starting --------------------------------------------------------------------------------------------

    async def start(self, config: IngestConfig, *, password: str | None = None) -> bool:
        """Ingest `config` in a worker child. Returns once the worker runs (True), or False when a stop came
        first; raises PulseError when it could not start. `password` (PostgreSQL) reaches the worker's libpq
        through its environment only."""
        return await asyncio.shield(self.begin(config, password=password))  # giving up does not stop it

    async def start_demo(self, path: Path, *, table: str = "readings", rate: int | None = None) -> bool:
        """Start the demo stream server and ingest it into `path` (the caller made it fresh)."""
        return await asyncio.shield(self.begin_demo(path, table=table, rate=rate))

    def begin(self, config: IngestConfig, *, password: str | None = None) -> asyncio.Future[bool]:
        """`start` for a caller that must not wait: `running` is True on return; the future settles as
        `start` returns or raises."""
        return self._begin(self._run(config.validated(), password), demo=False)

    def begin_demo(self, path: Path, *, table: str = "readings", rate: int | None = None) -> asyncio.Future[bool]:
        return self._begin(self._run_demo(path, table, rate), demo=True)

    def _begin(self, work: Coroutine[Any, Any, None], *, demo: bool) -> asyncio.Future[bool]:
        if self.running:
            work.close()
            raise PulseError("An ingest is already running; stop it first.")
        self._stop_requested = False
        self.last_stats = self._final = None
        self._reported_final = False
        self._started = started = asyncio.get_running_loop().create_future()
        self._task = asyncio.ensure_future(work)
        self._task.add_done_callback(self._finished)
        self.state.emit(IngestState("starting", demo=demo))
        return started

    def _settle_start(self, result: bool, error: PulseError | None = None) -> None:
        if self._started is None or self._started.done():
            return
        if error is not None:
            self._started.set_exception(error)
        else:
            self._started.set_result(result)

    def _finished(self, task: asyncio.Task[None]) -> None:
        """Everything is over (children exited): `running` is False by now."""
        if task is not self._task:
            return
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, PulseError):  # a bug: to the excepthook, not lost
            task.get_loop().call_exception_handler({"message": "ingest run failed", "exception": error, "task": task})
        self._settle_start(False)
        self.state.emit(IngestState("stopped", self.config, self._final))

    async def _run_demo(self, path: Path, table: str, rate: int | None) -> None:
        from desktop_app.core.demo import start_demo_server  # noqa: PLC0415 (its modules load only for a demo)
        from desktop_app.core.ingest.config import IngestConfig  # noqa: PLC0415

        try:
            demo = await start_demo_server(rate=rate)  # cancelled or failed: it kills what it spawned
        except PulseError as exc:
            self._settle_start(False, exc)
            return
        self._demo = demo
        try:
            if not self._stop_requested:
                await self._run(IngestConfig(url=demo.url or "", db_path=path, table=table).validated())
        finally:
            self._demo = None
            await demo.stop()

    async def _run(self, config: IngestConfig, password: str | None = None) -> None:
        from desktop_app.core.ingest.protocol import STOP_DEADLINES, start_worker  # noqa: PLC0415

        self.config = config
        try:
            worker = await start_worker(config, password=password, on_message=self._on_report)
        except PulseError as exc:
            self._settle_start(False, exc)
            return
        self._worker = worker
        if self._stop_requested:
            worker.stop(*STOP_DEADLINES)
        self._settle_start(True)
        self.state.emit(IngestState("running", config, demo=self._demo is not None))
        try:
            code = await worker.finished()
        finally:
            self._worker = None
            worker.signal(signal.SIGKILL)  # only if cancelled (the app is going): leave nothing behind
        if not self._reported_final:
            detail = worker.stderr_text().strip()[-800:]
            self.error.emit(PulseError(f"The ingest process ended unexpectedly (exit code {code}). {detail}".strip()))
        self._final = self._final or self.last_stats

    def _on_report(self, message: dict[str, Any]) -> None:
        """One line of the worker's, on the loop."""
        from desktop_app.core.ingest.protocol import final_report  # noqa: PLC0415 (loaded by now)
        from desktop_app.core.ingest.stats import IngestStats  # noqa: PLC0415

        if message.get("event") == "final":
            self._reported_final = True
            self._final, error = final_report(message)
            if error is not None:
                self.error.emit(error)
        if message.get("event") in ("stats", "final") and message.get("stats"):
            self.last_stats = IngestStats.from_dict(message["stats"])
            self.stats.emit(self.last_stats)

    # -- stopping --------------------------------------------------------------------------------------------

    def stop(self) -> asyncio.Future[None]:
        """Stop the run; the returned future is done (and `state` said `stopped`) once every child has exited,
        so a caller awaits it and nothing waits."""
        self._stop_requested = True
        if self._worker is not None:
            from desktop_app.core.ingest.protocol import STOP_DEADLINES  # noqa: PLC0415 (loaded by now)

            self._worker.stop(*STOP_DEADLINES)
        elif self._task is not None and not self._task.done():
            self._task.cancel()  # still starting (the demo server, the worker): nothing to flush yet
        return asyncio.ensure_future(self._over())

    async def _over(self) -> None:
        if self._task is not None:
            await asyncio.wait({self._task})

    def shutdown(self) -> None:
        """The app is going: on a running loop this is `stop()`. Once the loop has ended nothing can be
        awaited: each child gets SIGTERM now, which stops it as EOF would (the worker still flushes)."""
        if self._task is None or self._task.done():
            return
        if self._task.get_loop().is_running():
            self.stop()
            return
        for child in (self._worker, self._demo):
            if child is not None:
                child.signal(signal.SIGTERM)
