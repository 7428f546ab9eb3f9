"""py-spy profiles of the server during each workload, and their top functions.

    python -m bench --profile ...            # records bench-results/profiles/<server>-<phase>.txt
    python -m bench.profiles FILE [--top 25] # the top functions of one recorded profile

Recording uses ``py-spy record --format raw`` (folded stacks, one line per distinct stack with its sample
count) with ``--nonblocking``, so the server is never paused, and from a process on the client cores;
``--gil`` keeps only the samples of the thread holding the GIL: where the one core's Python time goes
(SQLite's own work and fsync, which release the GIL, do not show; garbage collection shows in the frame
that allocated when it started, which is why bench/gclog.py measures it apart).
Samples where a thread only waits (the event loop in ``select``, a pool thread waiting for work, our GC
logger sleeping) are counted apart as idle, so the percentages are of the time the server was working.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# A stack whose innermost frame is one of these is a thread waiting, not working.
IDLE_LEAVES = (
    "select (selectors.py",
    "_worker (concurrent/futures/thread.py",
    "wait (threading.py",
    "_writer (bench/gclog.py",
    "_wait_for_tstate_lock",
)


@contextlib.contextmanager
def recording(pid: int, path: Path, enabled: bool = True, rate: int = 100) -> Iterator[None]:
    """Record the process ``pid`` while the block runs (nothing if disabled or py-spy is missing)."""
    if not enabled or shutil.which("py-spy") is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--nonblocking",
         "--threads", "--gil", "-o", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()


def _frames(stack: str) -> list[str]:
    # With --threads the first frame names the thread: "thread (0x7f..)" or "process 123:..."
    return [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]


def top(path: Path, count: int = 25) -> dict[str, Any]:
    """Self and inclusive shares of the working samples, per function (file:line dropped)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    working = idle = 0
    for line in path.read_text().splitlines():
        stack, _, n_text = line.rpartition(" ")
        if not n_text.isdigit():
            continue
        n = int(n_text)
        frames = _frames(stack)
        if not frames or frames[-1].startswith(IDLE_LEAVES):
            idle += n
            continue
        working += n
        names = [_function(f) for f in frames]
        own[names[-1]] += n
        for name in set(names):
            inclusive[name] += n
    share = working or 1
    return {
        "samples": working,
        "idle_samples": idle,
        "self": [(name, round(n / share * 100, 1)) for name, n in own.most_common(count)],
        "inclusive": [(name, round(n / share * 100, 1)) for name, n in inclusive.most_common(count * 2)],
    }


def _function(frame: str) -> str:
    """``name (path/file.py:123)`` -> ``name (path/file.py)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    result = top(args.file, args.top)
    print(f"{result['samples']} working samples ({result['idle_samples']} idle)")
    print("\nself %   function")
    for name, pct in result["self"]:
        print(f"{pct:6.1f}   {name}")
    print("\ninclusive %   function")
    for name, pct in result["inclusive"]:
        print(f"{pct:6.1f}   {name}")


if __name__ == "__main__":
    main()
