"""Worker processes of one machine: start J processes that serve a queued study, watch them, stop
them.

`run_processes` spawns `job.workers` processes, each running `nas.lifecycle.work_queue` on the same
study (on CPU each gets its share of the cores); it says one line for each one that dies (a signal,
out of memory, an error) and stops them all on Ctrl-C, each marking its running trial interrupted
and queueing it again. The cluster launcher (nas.cluster) runs the same `work_queue` in submitit
jobs instead.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import optuna

from nas.lifecycle import Job, TrainFn, work_queue
from spaces.errors import NasError

__all__ = ["cuda_available", "exit_description", "raise_interrupt", "run_processes"]


def _worker_process(job: Job, k: int, train_fn: TrainFn | None) -> None:
    """Entry point of a spawned worker. The parent stops it with SIGTERM (handled like Ctrl-C);
    SIGINT from the terminal is left to the parent so that each worker is interrupted exactly
    once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, raise_interrupt)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from nas.trainer import default_threads

    if job.device == "cpu" or not cuda_available():
        import torch

        # the workers share the cores
        torch.set_num_threads(job.threads or default_threads(job.workers))
    try:
        work_queue(job, k, train_fn)
    except KeyboardInterrupt:
        sys.exit(130)
    except NasError as e:  # every error of ours: one line
        print(f"nas: worker {k}: error: {e}", file=sys.stderr)
        sys.exit(2)


def raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def run_processes(
    job: Job,
    train_fn: TrainFn | None,
    refresh: Callable[[], None],
    note: Callable[[str], None] | None = None,
) -> list[int]:
    """Run job.workers worker processes until they end; `note` gets one line for each that dies (an
    exit status other than 0 and 130: killed by a signal, out of memory, an error)."""
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker_process, args=(job, k, train_fn), name=f"nas-worker-{k}")
        for k in range(job.workers)
    ]
    reported: set[int] = set()
    try:
        for p in procs:
            p.start()
        while True:
            refresh()
            _report_dead(procs, reported, note)
            alive = [p for p in procs if p.is_alive()]
            if not alive:
                break
            alive[0].join(timeout=1.0)
    except KeyboardInterrupt:
        started = [p for p in procs if p.pid is not None]
        for p in started:
            if p.is_alive() and p.pid is not None:
                # each worker marks its trial interrupted and queues it again
                os.kill(p.pid, signal.SIGTERM)
        for p in started:
            p.join(timeout=120)
        for p in started:
            if p.is_alive():
                p.kill()
                p.join()
        raise
    _report_dead(procs, reported, note)
    return [p.exitcode if p.exitcode is not None else -1 for p in procs]


def exit_description(code: int) -> str:
    """An exit status in words: 'exit status 2', 'killed by SIGKILL (out of memory or kill -9?)'."""
    if code >= 0:
        return f"exit status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hint = " (out of memory, or kill -9?)" if -code == signal.SIGKILL else ""
    return f"killed by {name}{hint}"


def _report_dead(
    procs: Sequence[Any], reported: set[int], note: Callable[[str], None] | None
) -> None:
    """One line for each worker process that ended abnormally since the last call."""
    for k, p in enumerate(procs):
        code = p.exitcode
        if code is None or code in (0, 130) or k in reported:
            continue
        reported.add(k)
        others = sum(q.is_alive() for q in procs)
        then = (
            "its running trial is queued again and the other workers go on"
            if others
            else "no worker is left: run the same command again to finish the sweep"
        )
        text = f"nas: worker {k} (pid {p.pid}) died: {exit_description(code)}; {then}"
        if note is not None:
            note(text)
        else:
            print(text, file=sys.stderr, flush=True)
