"""THE application model: the open database (one `Session`) and the ingest run (one `IngestRun`), owned by one
long-lived, Qt-free object that the window and headless verbs drive alike.

    workspace = Workspace(data_dir=...)
    workspace.session_changed.connect(panel.set_session)   # each panel subscribes once
    await workspace.open(path, read_only=False)           # the previous run stops, the previous file closes
    await workspace.start_ingest(config)  /  await workspace.start_demo(table=..., rate=...)
    await workspace.stop_ingest()
    await workspace.aclose()

Order matters when switching: the ingest stops first (its worker may be writing the open file and flushes
what it holds), then the session closes completely (the same file opened again must not share locks with
descriptors about to close), then the new file opens. Every step is awaited on the loop; nothing blocks it.
Events are emitted on the loop thread only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.activity import Activity
from desktop_app.core.database import create_database
from desktop_app.core.errors import PulseError
from desktop_app.core.events import Event
from desktop_app.core.ingest.run import IngestRun, IngestState
from desktop_app.core.metrics import Sample
from desktop_app.core.session import DEFAULT_INTERVAL, Session

if TYPE_CHECKING:
    from desktop_app.core.ingest.config import IngestConfig
    from desktop_app.core.ingest.stats import IngestStats

DEMO_DATABASE_NAME = "demo.db"


@dataclass(frozen=True)
class Sampled:
    """One sample of the open database and the activity derived from it."""

    sample: Sample
    activity: Activity


class Workspace:
    """Owns the current `Session` and the current `IngestRun`; see the module's docstring."""

    def __init__(self, *, data_dir: Path | None = None, interval: float = DEFAULT_INTERVAL) -> None:
        self.data_dir = data_dir
        self.interval = interval  # for sessions opened from now on; `set_interval` changes the open one too
        self.session: Session | None = None
        self.ingest = IngestRun()
        self.session_changed: Event[Session | None] = Event("session_changed")
        self.sample: Event[Sampled] = Event("sample")
        self.ingest_stats: Event[IngestStats] = self.ingest.stats
        self.ingest_state: Event[IngestState] = self.ingest.state
        self.error: Event[PulseError] = Event("error")
        self.ingest.error.connect(self.error.emit)
        self.ingest.state.connect(self._on_ingest_state)
        self._closing: dict[Session, asyncio.Future[None]] = {}  # sessions still shutting down
        self._sampling: set[asyncio.Future[None]] = set()  # samples asked for after a job (kept referenced)
        self._generation = 0  # bumped by every open: an open overtaken by a later one closes what it got
        self._closed = False

    # Opening and closing ----------------------------------------------------------------------------------
    async def open(
        self, path: Path | str, *, read_only: bool = True, create: bool = False,
        opening: Awaitable[Session] | None = None,
    ) -> Session | None:
        """Leave the open file (see `close`), then open `path` and announce it (`session_changed`). Raises
        PulseError when `path` cannot be opened (nothing is left open then). Returns None when a later `open`
        (or `aclose`) overtook this one; its error, if any, is nobody's concern by then. `opening`: the same
        open, already started by the caller."""
        generation = self._next_generation()
        try:
            await self.close()
            if opening is None:
                opening = Session.open(path, read_only=read_only, interval=self.interval, create=create)
            session = await opening
        except PulseError:
            if generation != self._generation:
                return None
            raise
        if generation != self._generation or self._closed:
            await session.close()
            return None
        self._attach(session)
        return session

    async def close(self) -> None:
        """Leave the open file, in order: subscribers let go of it at once (`session_changed(None)`), the
        ingest stops (the worker flushes), then the session closes completely, and so does any still closing
        (the same file opened next must not share locks with descriptors about to close)."""
        session = self._detach()
        if session is not None:  # kept in sight from now on, so a `shutdown_now` meanwhile closes it too
            self._closing[session] = asyncio.ensure_future(self._close_after_run(session))
        await self.stop_ingest()
        while self._closing:
            await asyncio.gather(*self._closing.values(), return_exceptions=True)
            self._closing = {s: task for s, task in self._closing.items() if not task.done()}

    async def _close_after_run(self, session: Session) -> None:
        await self.stop_ingest()  # its worker may be writing this file: it flushes first
        await session.close()

    async def aclose(self) -> None:
        """The end: every child exited, every file closed. Later opens return None."""
        self._closed = True
        self._next_generation()
        await self.close()

    def shutdown_now(self) -> None:
        """Last resort for a caller that cannot await (the loop is ending): children get SIGTERM or EOF, the
        session closes blocking. Prefer `await aclose()`."""
        self._closed = True
        self._next_generation()
        self.ingest.shutdown()
        session = self._detach()
        for closing in [*self._closing, *([session] if session is not None else [])]:
            closing.close_now()  # joins a close already under way

    def _next_generation(self) -> int:
        self._generation += 1
        return self._generation

    def _attach(self, session: Session) -> None:
        self.session = session
        session.events.sample.connect(self._on_sample)
        session.events.sampler_error.connect(self.error.emit)
        session.events.job_done.connect(self._after_job)
        self.session_changed.emit(session)

    def _detach(self) -> Session | None:
        """Take the session off every subscriber (nothing it publishes while it shuts down reaches them)."""
        session, self.session = self.session, None
        if session is None:
            return None
        session.events.sample.disconnect(self._on_sample)
        session.events.sampler_error.disconnect(self.error.emit)
        session.events.job_done.disconnect(self._after_job)
        self.session_changed.emit(None)
        return session

    def set_interval(self, seconds: float) -> None:
        self.interval = seconds
        if self.session is not None:
            self.session.interval = seconds

    def _on_sample(self, sample: Sample, activity: Activity) -> None:
        self.sample.emit(Sampled(sample, activity))

    def _after_job(self, _job: object, _result: object) -> None:
        # What a job changed (the flag it cleared, the size it saved) shows at once, not at the next sample.
        session = self.session
        if session is not None and not session.closed:
            task = asyncio.ensure_future(self._sample_now(session))
            self._sampling.add(task)
            task.add_done_callback(self._sampling.discard)

    async def _sample_now(self, session: Session) -> None:
        try:
            await session.sample_now()
        except PulseError as error:
            if session is self.session:  # a file closed meanwhile has nothing more to say
                self.error.emit(error)

    # Ingest -----------------------------------------------------------------------------------------------
    async def start_ingest(self, config: IngestConfig, *, password: str | None = None) -> bool:
        """Ingest `config` (into the open file, another file or PostgreSQL). True once the worker runs, False
        if a stop came first; PulseError if it cannot start."""
        return await self.ingest.start(config, password=password)

    async def start_demo(self, *, table: str = "readings", rate: int | None = None) -> bool:
        """The demo: stop the run, close the open file, make a fresh demo database of our own (never the
        user's file), open it, and stream the demo server into it."""
        path = self.demo_database_path()
        generation = self._next_generation()
        await self.close()  # the open file may be demo.db itself, which is made afresh now
        await asyncio.get_running_loop().run_in_executor(None, fresh_database, path)
        session = await Session.open(path, read_only=False, interval=self.interval)
        if generation != self._generation or self._closed:
            await session.close()
            return False
        self._attach(session)
        return await self.ingest.start_demo(path, table=table, rate=rate)

    async def stop_ingest(self) -> None:
        """Stop the run (the worker flushes, then the demo server ends); returns once every child exited."""
        await self.ingest.stop()

    def demo_database_path(self) -> Path:
        if self.data_dir is None:
            raise PulseError("No data folder for the demo database.")
        return self.data_dir / DEMO_DATABASE_NAME

    def _on_ingest_state(self, state: IngestState) -> None:
        # The sampler must not flag our own worker's commits as another process's writes.
        session, target = self.session, state.config.db_path if state.config is not None else None
        if state.phase == "running" and session is not None and isinstance(target, Path) \
                and target.resolve() == session.path.resolve():
            session.note_own_writes()


def fresh_database(path: Path) -> None:
    """A new, empty demo database (the previous demo's data is discarded: it is ours, not the user's). The
    workspace has closed any session on it first, so no connection of ours holds these files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    create_database(path)
