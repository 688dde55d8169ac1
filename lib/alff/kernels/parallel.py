"""Block pairs in parallel on Python threads, not numba ``prange``.

Why not ``prange``: numba compiles the body of a ``prange`` loop, and every
compiled function that another one calls, as a library of its own and also
links a copy of it into the caller, where it is optimised a second time. A
process that compiled the kernels runs the callee's own copy (it was loaded
first); a process that loads the caller from numba's cache runs the
caller's copy. With ``fastmath`` (reassociation, contraction) the two
copies are different machine code and differ in the last bits, so results
depended on whether the kernels were compiled fresh, loaded from the cache
or partly both (issue 12).

So each kernel is one compiled function entered from Python
(``@njit(cache=True, fastmath=True, nogil=True)``) whose helpers are all
inlined at numba-IR level (``inline="always"``); it runs the block pairs
``lo..hi`` of its list, and :func:`run_pairs` hands chunks of the list to
a thread pool. Every block pair writes its own tile of the output, so the
result does not depend on the number of threads either.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

__all__ = ["run_pairs"]

CHUNKS_PER_THREAD = 4  # chunks handed out per thread (load balance)

_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}


def _forget_pools():
    """In a forked child the pools' threads do not exist: start afresh."""
    global _lock
    _lock = threading.Lock()
    _pools.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def _pool(n):
    with _lock:
        pool = _pools.get(n)
        if pool is None:
            pool = _pools[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="alff-kernel")
        return pool


def run_pairs(kernel, ia, ib, *args):
    """``kernel(ia, ib, lo, hi, *args)`` over all ``q`` of the block pairs
    ``(ia[q], ib[q])``, in chunks on ``numba.get_num_threads()`` threads.

    ``kernel`` must release the GIL (``nogil=True``) and write only the
    tiles of its own block pairs.
    """
    n = len(ia)
    if n == 0:
        return
    threads = max(1, min(int(numba.get_num_threads()), n))
    if threads == 1:
        kernel(ia, ib, 0, n, *args)
        return
    bounds = np.linspace(0, n, min(n, CHUNKS_PER_THREAD * threads) + 1).astype(np.int64)
    jobs = [_pool(threads).submit(kernel, ia, ib, int(lo), int(hi), *args)
            for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    errors = [job.exception() for job in jobs]  # waits for every chunk
    for e in errors:
        if e is not None:
            raise e
