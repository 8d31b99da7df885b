"""The metrics sampler on its own thread: one read-only connection, a sample every `interval` seconds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from desktop_app.core.errors import PulseError
from desktop_app.core.metrics import MetricsSampler, Sample
from desktop_app.ui.activity import Activity, ActivityMeter

DEFAULT_INTERVAL = 0.25


class SamplerThread:
    """Samples `path` until `stop()`. Callbacks run on the sampler thread: wrap them for the GUI."""

    def __init__(
        self,
        path: Path,
        on_sample: Callable[[Sample, Activity], None],
        on_error: Callable[[PulseError], None],
        *,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.path = path
        self.interval = interval
        self._on_sample = on_sample
        self._on_error = on_error
        self._stop = threading.Event()
        self._own_writes = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pulse-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def note_own_writes(self) -> None:
        """Our ingest writes this database: tell the sampler (its red flags take it into account)."""
        self._own_writes.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        try:
            sampler = MetricsSampler(self.path)
        except PulseError as exc:
            self._on_error(exc)
            return
        meter = ActivityMeter()
        last_error = ""
        try:
            while not self._stop.is_set():
                if self._own_writes.is_set():
                    sampler.note_own_writes()
                    self._own_writes.clear()
                try:
                    sample = sampler.sample()
                except PulseError as exc:
                    if str(exc) != last_error:  # report a persisting problem once, keep trying
                        self._on_error(exc)
                    last_error = str(exc)
                else:
                    last_error = ""
                    self._on_sample(sample, meter.update(sample))
                self._stop.wait(self.interval)
        finally:
            sampler.close()
