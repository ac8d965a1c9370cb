"""Where a training sweep's jobs run: a pool of local processes, or tasks on a Ray cluster. One interface.

`backend.run(jobs, data)` is a generator: it yields each JobResult as its job finishes (in finishing order).
`backend.cancel()` may be called from any thread; the generator then stops the running jobs, leaves no
process behind and returns. Leaving the generator early (Ctrl+C, `close()`) cleans up the same way.

Every backend ends in the job's own `run` (`train_sweep.run_job` for a training job, `width.WidthJob.run` for a
width job) with one torch thread, so their results are identical bit for bit.

Why processes and not threads: a training step is many small torch ops whose Python overhead holds the GIL,
so threads in one process do not scale (see gui/worker.py); each job is a whole run, so processes cost only
their start-up (about a second to import torch), paid once per worker, not per job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time
import warnings
from collections.abc import Iterator

from initscope.core import forkserver
from initscope.core.data import Dataset
from initscope.core.errors import UserError
from initscope.core.messages import RunStatus
from initscope.core.shared_flag import SharedEvent
from initscope.core.train_sweep import DataPayload, Job, JobResult

POLL_S = 0.1  # how often a waiting backend checks for cancel and dead workers
# One OpenMP / MKL thread in each worker from its start, as Ray does for a num_cpus=1 task: torch.set_num_threads(1)
# after import left the runs slower (on this shared 2-core machine, 4 runs on 2 workers: 35 s without the variables,
# 16 s with them set for the whole process tree; noisy, other sessions were running).


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class SweepBackend:
    name = "?"

    def __init__(self, workers: int | None = None):
        if workers is not None and workers < 1:
            raise UserError(f"--workers must be at least 1, got {workers}")
        self.workers = workers or default_workers()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop every job (any thread); run() returns soon after, with nothing left running."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self, jobs: list[Job], data: Dataset) -> Iterator[JobResult]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- local process pool -----------------------------------------------------------------

# the workers' stop: a shared byte, not a multiprocessing.Event, whose is_set() takes a lock shared by every
# worker (two workers contending for it every step ran at half speed), and a process that exits while waiting on
# one can hang the parent's set(). Read every step, set once, by the parent.
SharedFlag = SharedEvent


def _local_worker(tasks, results, stop, payload: DataPayload) -> None:
    """A pool process: one torch thread, the data built once, jobs until a None or a stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle: it cancels cleanly
    from initscope.core.trainer import set_threads

    set_threads(1)
    data = payload.dataset()
    pid = os.getpid()
    local_stop = SharedFlag(stop)
    while not local_stop.is_set():
        job = tasks.get()
        if job is None or local_stop.is_set():
            break
        results.put(("start", pid, job.index))
        res = job.run(data, stop_event=local_stop)  # a training job or a width job (core/width.py)
        if local_stop.is_set():
            break
        results.put(("done", pid, res))


class LocalPool(SweepBackend):
    """`workers` processes from a fork server (or spawned), fed from one queue."""

    name = "local"
    JOIN_S = 3.0  # how long a stopping worker gets to finish its step before it is terminated

    def __init__(self, workers: int | None = None):
        super().__init__(workers)
        self.pids: list[int] = []  # the worker processes of the current or last run
        self.running: dict[int, int] = {}  # worker pid -> the job it is running now (read by tests and views)
        self.first_start: float | None = None  # perf_counter when a worker began its first job (start-up done)

    def run(self, jobs: list[Job], data: Dataset) -> Iterator[JobResult]:
        if not jobs:
            return
        # workers come from the fork server (core/forkserver.py): torch imported once, each worker forked from it;
        # the caller's own process is never forked, so its Qt and torch threads do not matter. Elsewhere: spawn
        ctx = forkserver.context()
        tasks, results, stop = ctx.Queue(), ctx.Queue(), ctx.RawValue("b", 0)
        for job in jobs:
            tasks.put(job)
        n = min(self.workers, len(jobs))
        for _ in range(n):
            tasks.put(None)
        payload = DataPayload.of(data)
        procs = [ctx.Process(target=_local_worker, args=(tasks, results, stop, payload), daemon=True,
                             name=f"initscope-sweep-{k}") for k in range(n)]
        # children start with SIGINT ignored (inherited through exec), so Ctrl+C during their start-up is no traceback
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if threading.current_thread() is threading.main_thread() else None
        try:
            with forkserver.one_thread_env():
                for p in procs:
                    p.start()
            forkserver.mark_ready()
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
        self.pids = [p.pid for p in procs]
        self.first_start = None
        by_index = {job.index: job for job in jobs}
        pending = set(by_index)
        running = self.running = {}
        try:
            while pending and not self._cancel.is_set():
                try:
                    kind, pid, item = results.get(timeout=POLL_S)
                except queue.Empty:
                    yield from self._reap(procs, running, pending, by_index)
                    continue
                if kind == "start":
                    running[pid] = item
                    if self.first_start is None:
                        self.first_start = time.perf_counter()
                else:
                    running.pop(pid, None)
                    pending.discard(item.index)
                    yield item
        finally:
            self._stop(procs, tasks, results, stop)

    def _reap(self, procs, running, pending, by_index) -> Iterator[JobResult]:
        """A worker that died (killed, out of memory) fails its job; if all died, the rest fail too."""
        for p in procs:
            if p.exitcode is not None and p.exitcode != 0 and p.pid in running:
                idx = running.pop(p.pid)
                pending.discard(idx)
                yield JobResult(idx, RunStatus.ERROR, f"its worker process died (exit code {p.exitcode}; out of memory?)")
        if pending and all(p.exitcode is not None for p in procs):
            for idx in sorted(pending):
                yield JobResult(idx, RunStatus.ERROR, "no worker process left to run it")
            pending.clear()

    def _stop(self, procs, tasks, results, stop) -> None:
        stop.value = 1  # a running Trainer sees it at its next step boundary
        deadline = time.monotonic() + self.JOIN_S
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join()
        for q in (tasks, results):
            q.cancel_join_thread()  # do not block on items nobody will read
            q.close()


# --- Ray ------------------------------------------------------------------------------

_RAY_DATA: dict[str, Dataset] = {}  # per Ray worker process: the data, built once per object


def _ray_job(job: Job, data_ref: list) -> JobResult:
    """One job in a Ray worker. The data comes as [ObjectRef] (nested, so Ray does not resolve it) and is
    built into tensors once per worker process."""
    import ray

    from initscope.core.trainer import set_threads

    set_threads(1)
    key = data_ref[0].hex()
    if key not in _RAY_DATA:
        _RAY_DATA.clear()
        _RAY_DATA[key] = ray.get(data_ref[0]).dataset()
    return job.run(_RAY_DATA[key])


@contextlib.contextmanager
def _quiet_ray():
    """Ray's INFO lines ("Connecting to existing Ray cluster ...") and warnings (token authentication, the
    client's time-out advice) stay out of the command's output: its errors are the one line we print."""
    loggers = [logging.getLogger(n) for n in ("ray", "ray.util.client", "ray._private")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


CLIENT_INIT_TRIES = 2  # Ray Client's per-client server failing to start is tried once more


def ray_reason(e: BaseException) -> str:
    """Ray's error in one line: its first line, and when that only introduces a server-side traceback ("...from
    server:"), that traceback's last line, which names the cause."""
    lines = [x.strip() for x in str(e).strip().splitlines() if x.strip()]
    if not lines:
        return type(e).__name__
    if lines[0].endswith(":") and len(lines) > 1:
        return f"{lines[0]} {lines[-1]}"[:300]
    return lines[0][:300]


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("the ray backend needs Ray: pip install 'initscope[ray]'") from None
    return ray


class RayBackend(SweepBackend):
    """One Ray task (num_cpus=1) per job; results come back with ray.wait as they finish.

    address None: a local Ray instance with `workers` CPUs (started here, shut down by close());
    'auto' or 'ray://host:port': an existing cluster, which must have initscope installed on its nodes
    (Ray ships our functions by module name; it does not install the package)."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None, token_file: str | None = None):
        super().__init__(workers)
        self.address = address
        self.token_file = token_file
        self.startup_seconds = 0.0
        self._owns = False

    def start(self) -> None:
        from initscope.core.ray_auth import probe_client, use_token

        token = use_token(self.address, self.token_file)  # before Ray reads its variables (core/ray_auth.py)
        ray = import_ray()
        if ray.is_initialized():
            return
        t0 = time.perf_counter()
        if self.address and self.address.startswith("ray://"):
            probe_client(self.address, token)  # seconds, with the head's answer, not a 30 s client timeout
        sigterm = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
        try:
            for attempt in range(CLIENT_INIT_TRIES):
                try:
                    with _quiet_ray():
                        if self.address:
                            ray.init(address=self.address, log_to_driver=False, logging_level=logging.ERROR)
                        else:
                            # "local": a Ray of its own, as documented; without it Ray joins a cluster this
                            # machine runs (`ray start`) and refuses the CPU count
                            ray.init(address="local", num_cpus=self.workers, include_dashboard=False,
                                     log_to_driver=False, logging_level=logging.ERROR)
                    break
                except ConnectionAbortedError as e:
                    # the head's client server starts a Python process per client; on a loaded head that start can
                    # fail once ("Initialization failure from server", seen in CI) and the next one succeed
                    if attempt + 1 == CLIENT_INIT_TRIES or "initialization failure" not in str(e).lower():
                        raise
                    with contextlib.suppress(Exception):
                        ray.shutdown()
                    time.sleep(1.0)
        except Exception as e:  # noqa: BLE001 - no cluster, a bad address, Ray Client missing: one line each
            raise UserError(f"cannot start or reach Ray{' at ' + self.address if self.address else ''}: "
                            f"{ray_reason(e)}") from None
        finally:
            if sigterm is not None:  # Ray's driver takes SIGTERM (sys.exit, then an abort: 134); the CLI's is kept
                signal.signal(signal.SIGTERM, sigterm)
        self._owns = True
        self.startup_seconds = time.perf_counter() - t0

    def run(self, jobs: list[Job], data: Dataset) -> Iterator[JobResult]:
        if not jobs:
            return
        ray = import_ray()
        self.start()
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_job)
        data_ref = ray.put(DataPayload.of(data))  # shipped once through the object store
        refs = {task.remote(job, [data_ref]): job.index for job in jobs}
        pending = list(refs)
        try:
            while pending and not self._cancel.is_set():
                done, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
                for ref in done:
                    try:
                        yield ray.get(ref)
                    except Exception as e:  # noqa: BLE001 - a task that crashed (worker died) fails its cell
                        yield JobResult(refs[ref], RunStatus.ERROR, f"Ray task failed: {str(e).splitlines()[0]}")
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._owns:
            import_ray().shutdown()
            self._owns = False


def make_backend(name: str, workers: int | None = None, address: str | None = None,
                 token_file: str | None = None) -> SweepBackend:
    if name == "local":
        if address:
            raise UserError("--address is for the ray backend only")
        return LocalPool(workers)
    if name == "ray":
        from initscope.core.ray_auth import check_address

        return RayBackend(workers, check_address(address), token_file)
    raise UserError(f"unknown backend {name!r}; choose local or ray")


def run_sweep(spec, data: Dataset, backend: SweepBackend, save_dir=None, on_result=None):
    """Run every job of `spec` on `backend`; returns SweepResults with what finished (all of it unless cancelled
    or interrupted; a KeyboardInterrupt is caught here, so Ctrl+C keeps the finished results).
    `on_result(results, job_result)` is called as each job finishes."""
    from initscope.core.train_sweep import SweepResults, check_job_memory

    jobs = spec.jobs(save_dir)
    # on a Ray cluster the jobs run on other machines: only one job must fit (this machine's estimate)
    check_job_memory(jobs, data, 1 if getattr(backend, "address", None) else backend.workers)
    return collect(backend, jobs, data, SweepResults(spec, jobs), on_result)


def collect(backend: SweepBackend, jobs: list, data: Dataset, out, on_result=None):
    """Run `jobs` on `backend` and add each result to `out` (SweepResults, WidthResults) as it arrives; Ctrl+C
    cancels every job and marks `out` interrupted. Returns `out`, with its backend and wall time."""
    out.backend, out.workers = backend.name, backend.workers
    t0 = time.perf_counter()
    gen = backend.run(jobs, data)
    try:
        for res in gen:
            out.add(res)
            if on_result is not None:
                on_result(out, res)
    except KeyboardInterrupt:
        backend.cancel()
        out.interrupted = True
    finally:
        gen.close()  # stops and joins the workers whatever happened
        out.wall_seconds = time.perf_counter() - t0
    return out
