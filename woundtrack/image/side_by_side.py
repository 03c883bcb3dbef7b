"""Several photos measured at once, one per core.

A second core makes one photo only about a third faster (a 2 MP phantom: 0.65 s on one core,
0.44 s on two; 2026-12-07), so a batch of photos is measured side by side instead: ``workers``
threads, each measuring its own photo with the networks on one thread
(``LearnedSegmenter.threads``; the threads share one onnxruntime session per network, which may be
run from several threads at once). Threads, not processes: the networks, OpenCV and numpy work
outside Python's lock, and a thread needs no start-up nor copy of the models (two processes of
one thread, start-up included: 0.49-0.58 s a photo over 20-40 photos, against 0.44-0.53 s one
after another and 0.37-0.43 s for two threads, on the same 2 cores).

Results come back in the order the items went in (what is printed or filed stays in the user's
order), with at most ``2 * workers`` photos read ahead; an item's own ``WoundtrackError`` is its
result, and the others go on. ``python benchmarks/measure_speed.py`` prints the gain.
"""

from __future__ import annotations

import dataclasses
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from woundtrack.errors import WoundtrackError
from woundtrack.image.learned import LearnedSegmenter
from woundtrack.image.segmentation import Segmenter

#: Most photos measured at once, whatever the cores: each holds its photo and label map in memory
#: (about 0.2 GB for a 12 MP photo while it is measured).
MAX_WORKERS = 8

Item = TypeVar("Item")
Result = TypeVar("Result")


def cores() -> int:
    """The cores this process may use: ``$WOUNDTRACK_THREADS`` when set (a batch worker's
    share), else those the operating system gives it."""
    env = os.environ.get("WOUNDTRACK_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(photos: int, asked: int | None = None) -> int:
    """How many photos to measure at once: ``asked``, or by default one per core (at most
    ``MAX_WORKERS``); never more than ``photos``. 0 means one after another, with the networks
    on every core: for a single photo or core, or when ``asked`` is 0 or 1."""
    n = min(photos, min(cores(), MAX_WORKERS) if asked is None else asked)
    return n if n >= 2 else 0


def one_thread(segmenter: Segmenter) -> Segmenter:
    """``segmenter`` with its networks on one thread, for measuring beside other photos (a
    segmenter without networks is returned as it is). It finds exactly what ``segmenter`` does."""
    if isinstance(segmenter, LearnedSegmenter):
        return dataclasses.replace(segmenter, threads=1)
    return segmenter


def in_order(
    fn: Callable[[Item], Result], items: Iterable[Item], *, workers: int
) -> Iterator[tuple[Item, Result | WoundtrackError]]:
    """``(item, fn(item))`` for each item, in the items' order, ``workers`` at once (0 or 1: one
    after another, here). A ``WoundtrackError`` that ``fn`` raised is that item's result; any
    other exception is a bug and is raised, as it would be one after another.
    """
    if workers <= 1:
        for item in items:
            yield item, _call(fn, item)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="woundtrack-measure") as pool:
        ahead = deque()
        pending = iter(items)
        try:
            for item in pending:
                ahead.append((item, pool.submit(_call, fn, item)))
                if len(ahead) >= 2 * workers:
                    done, job = ahead.popleft()
                    yield done, job.result()
            while ahead:
                done, job = ahead.popleft()
                yield done, job.result()
        finally:  # the caller stopped early, or a bug: measure nothing more
            for _, job in ahead:
                job.cancel()


def _call(fn, item):
    try:
        return fn(item)
    except WoundtrackError as exc:
        return exc
