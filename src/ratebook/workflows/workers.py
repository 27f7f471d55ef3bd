"""Running one job in N worker processes beside a coordinator (``--workers N``).

Each worker is a fresh interpreter (spawned, not forked: a forked child would share the
coordinator's database connections) that opens the store by its URL and claims items of
the run from the store's queue (``store.work_queue``) until none is left. The coordinator
only waits, telling its progress from the queue, and gathers what each worker did.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")

#: How often the coordinator looks at the queue for its progress, seconds.
_POLL = 0.2


def run_workers(
    workers: int,
    job: Callable[..., T],
    args: tuple[Any, ...],
    *,
    poll: Callable[[], None] | None = None,
) -> list[T]:
    """``job(*args)`` in ``workers`` processes at once; what each returned. ``poll()`` is
    called while they run. The first error a worker raised is raised here once every worker
    has stopped (the others stop when the queue is empty, or at their own errors)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures: list[Future[T]] = [pool.submit(job, *args) for _ in range(workers)]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=_POLL, return_when=FIRST_EXCEPTION)
            if poll is not None:
                poll()
            if any(f.exception() is not None for f in done):
                wait(pending)
                break
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error
    return [f.result() for f in futures]
