"""Garbage-collection pauses of the process it runs in, from ``gc.callbacks``.

A pause is the time between the collector's "start" and "stop" callbacks: the whole process (its event
loop) is stopped for that long, so a pause shows up as latency in every connection that had a frame
waiting. Each pause is kept with its start on ``time.monotonic()`` (one clock for every process of the
machine), so a report can count the pauses that fell inside a measurement window.

Two ways to use it:

- in the load generator and the bare server: ``log = GcLog(); log.install()``, then ``log.pauses_between``;
- around a program we may not change (widget_server itself)::

      python -m bench.gclog FILE -m widget_server serve ...

  runs the module as ``python -m`` would, with the log installed, and appends each pause to FILE as one line
  ``start duration cpu generation collected`` (a daemon thread writes them out every half second, so the
  collector itself never waits on a file).
"""

from __future__ import annotations

import gc
import os
import runpy
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Pause:
    start: float  # time.monotonic()
    duration: float  # seconds, wall clock: what the event loop lost
    generation: int
    collected: int
    cpu: float = 0.0  # seconds of the collecting thread's CPU: the collector's cost, whatever the noise


class GcLog:
    def __init__(self) -> None:
        self.pauses: list[Pause] = []
        self._started = 0.0
        self._cpu = 0.0

    def install(self) -> None:
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._cpu = time.thread_time()
            self._started = time.monotonic()
        else:
            now = time.monotonic()
            cpu = time.thread_time() - self._cpu
            self.pauses.append(
                Pause(
                    self._started,
                    now - self._started,
                    info.get("generation", -1),
                    info.get("collected", 0),
                    cpu,
                )
            )

    def pauses_between(self, start: float, end: float) -> list[Pause]:
        return [p for p in self.pauses if start <= p.start < end]


def summary(pauses: list[Pause]) -> dict[str, Any]:
    """Count, total and longest (wall clock), the collector's CPU, and the full (generation 2)
    collections among them; times in milliseconds."""
    durations = [p.duration for p in pauses]
    return {
        "count": len(pauses),
        "total_ms": round(sum(durations) * 1000, 2),
        "max_ms": round(max(durations) * 1000, 2) if durations else 0.0,
        "cpu_ms": round(sum(p.cpu for p in pauses) * 1000, 2),
        "gen2": sum(1 for p in pauses if p.generation == 2),
        "gen2_max_ms": round(max((p.duration for p in pauses if p.generation == 2), default=0.0) * 1000, 2),
    }


def read_file(path: Path) -> list[Pause]:
    """The pauses a ``python -m bench.gclog FILE ...`` process has written so far."""
    pauses = []
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 5:
            start, duration, cpu = float(fields[0]), float(fields[1]), float(fields[2])
            pauses.append(Pause(start, duration, int(fields[3]), int(fields[4]), cpu))
    return pauses


def _writer(log: GcLog, path: Path) -> None:
    written = 0
    with path.open("a", buffering=1) as out:
        while True:
            time.sleep(0.5)
            pending = log.pauses[written:]
            written += len(pending)
            for p in pending:
                out.write(f"{p.start:.6f} {p.duration:.6f} {p.cpu:.6f} {p.generation} {p.collected}\n")


def _freezer(every: float) -> None:
    while True:
        time.sleep(every)
        gc.freeze()


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        sys.exit("usage: python -m bench.gclog FILE -m MODULE [ARGS...]")
    path, module = Path(sys.argv[1]), sys.argv[3]
    log = GcLog()
    log.install()
    # For experiments on the collector's settings without changing the program (see docs/performance.md):
    # BENCH_GC_THRESHOLD="700,10,10" is passed to gc.set_threshold before the program starts.
    # BENCH_GC_FREEZE_EVERY=S moves every object the collector tracks into its permanent generation every
    # S seconds (gc.freeze), so that full collections no longer walk the long-lived heap.
    threshold = os.environ.get("BENCH_GC_THRESHOLD")
    if threshold:
        gc.set_threshold(*(int(x) for x in threshold.split(",")))
    freeze_every = float(os.environ.get("BENCH_GC_FREEZE_EVERY") or 0)
    if freeze_every:
        threading.Thread(target=_freezer, args=(freeze_every,), daemon=True, name="gcfreeze").start()
    threading.Thread(target=_writer, args=(log, path), daemon=True, name="gclog").start()
    sys.argv = [module, *sys.argv[4:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
