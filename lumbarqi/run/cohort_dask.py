"""``lumbarqi run --cohort --scheduler ADDRESS``: the cohort's studies as tasks on a Dask cluster.

Each study is one task, :func:`lumbarqi.run.cohort_worker.execute`, run in a Dask worker
process, which keeps torch, holoscan and the networks loaded between studies (the
first study on a worker warms it up). Input and output folders must be visible to
the workers at the same paths (a shared file system, as on a Slurm/PBS cluster or a
Kubernetes volume). The cohort process keeps the bookkeeping: a study's folder
appears in the output once its task has returned and the results are complete, so a
worker lost mid-study (Dask runs that task again elsewhere) never leaves half a study
and never a study twice. Start workers with ``--nthreads 1``: a worker runs one study
at a time anyway (the graph shares one logger), and each study uses the cores itself.
"""
from __future__ import annotations

from lumbarqi.errors import LumbarqiError


class DaskBackend:
    """Submits studies to the Dask scheduler at ``address``; same interface as LocalWorkers."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - distributed is a pinned dependency
            raise LumbarqiError("--scheduler needs the 'distributed' package (pip install distributed)") from None
        try:
            self.client = Client(address, timeout="20s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise LumbarqiError(f"could not reach the Dask scheduler at {address}: {type(exc).__name__}") from None
        self.futures: set = set()

    @property
    def slots(self) -> int:
        """Studies kept in flight: twice the cluster's worker threads (at least 2), so no worker waits."""
        threads = sum(w.get("nthreads", 1) for w in self.client.scheduler_info(n_workers=-1)["workers"].values())
        return max(2, 2 * threads)

    def describe(self) -> str:
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        return f"{len(workers)} workers, {sum(w.get('nthreads', 1) for w in workers.values())} threads"

    def run(self, request: dict, timeout_s: float | None = None) -> dict:
        from distributed import TimeoutError as DaskTimeout

        from lumbarqi.run.cohort_worker import execute

        fut = self.client.submit(execute, request, key=f"lumbarqi-study-{request['study_uid']}", pure=False)
        self.futures.add(fut)
        try:
            return fut.result(timeout=timeout_s)
        except DaskTimeout:
            fut.cancel()
            return {"exit_code": None, "message": f"stopped after {timeout_s:g} s (study timeout)"}
        except Exception as exc:  # the task failed on every worker Dask tried (e.g. workers killed repeatedly)
            return {"exit_code": None, "message": f"Dask task failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}
        finally:
            self.futures.discard(fut)

    def terminate(self) -> None:
        """Cancel what is still queued or running (an interrupted cohort)."""
        for fut in list(self.futures):
            fut.cancel()

    def close(self) -> None:
        self.client.close()
