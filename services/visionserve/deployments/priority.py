"""CPU priority of a replica process: explanations yield the cores to predictions."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Literal

logger = logging.getLogger("visionserve")

CpuPriority = Literal["normal", "low", "idle"]


def lower_priority(priority: CpuPriority) -> None:
    """Run every thread of this process at PRIORITY, never raising it.

    "low" is nice 19; "idle" is Linux's SCHED_IDLE, below any nice value: the threads get
    the time other processes leave (Ray already starts its workers at nice 15, so nice alone
    separates an explainer from a model replica by little). On Linux both are per thread: the
    threads that exist now (event loop, Ray's, the math library's pools) are each set, and
    threads started later inherit from the thread that starts them. A process may always
    lower its own priority, so no privilege is needed.
    """
    if priority == "normal" or not hasattr(os, "setpriority"):
        return
    tasks = Path("/proc/self/task")
    thread_ids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    for thread_id in thread_ids:
        _lower_thread(thread_id, priority)


def lower_thread_priority(priority: CpuPriority) -> None:
    """Run the calling thread at PRIORITY (as ``lower_priority``); the process's other threads
    keep theirs. For a thread pool's initializer."""
    if priority != "normal" and hasattr(os, "setpriority"):
        _lower_thread(threading.get_native_id(), priority)


def _lower_thread(thread_id: int, priority: CpuPriority) -> None:
    try:
        if priority == "idle" and hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(thread_id, os.SCHED_IDLE, os.sched_param(0))
        elif os.getpriority(os.PRIO_PROCESS, thread_id) < 19:
            os.setpriority(os.PRIO_PROCESS, thread_id, 19)
    except OSError as exc:  # a thread that ended meanwhile, or a sandbox that forbids it
        logger.debug("could not lower thread %d's priority: %s", thread_id, exc)
