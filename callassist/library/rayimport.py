"""Importing recordings with the analysis spread over a Ray cluster (`import --ray [ADDRESS]`).

Each worker is a Ray actor that loads the models once and then analyses recording after
recording, writing each call into the library itself (a team's PostgreSQL server; on a local
cluster an SQLite file works too), exactly as the local import does (`Importer.import_one`).
The driver hands a worker its next recording when it finishes one and prints progress.

Nothing is lost and nothing is stored twice when a worker dies (killed, out of memory, its
machine gone): Ray starts the actor again and runs the recording it had again; a call is
stored whole in one transaction under the recording's content key, so a worker killed before
its commit stored nothing, and one killed after it finds the call there and says so.

Ray is used as it ships (PyPI `ray`), with its usage statistics off. A local cluster (no
address given) runs every Ray process on 127.0.0.1 only. Across machines: start `ray start
--head` on one, `ray start --address HEAD:6379` on the others, give that address to `--ray`,
and keep the recordings where every worker reads them at the same path (a shared folder) and
the library on the team's server.
"""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable

from ..errors import CallAssistError
from .importer import ImportResult, find_recordings


def _ray(local: bool):
    """Import Ray with our settings: nothing sent out, and on a local cluster every listening
    port on the loopback interface (Ray otherwise takes this machine's routable address)."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.setdefault("RAY_DISABLE_DOCKER_CPU_WARNING", "1")
    if local:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # node address: 127.0.0.1
    try:
        import ray
    except ImportError:
        raise CallAssistError("Ray is not installed: run scripts/setup.sh (or pip install "
                              "ray) to spread an import over a cluster") from None
    return ray


class ImportWorker:
    """One worker of a Ray import (a Ray actor): the models loaded once, a library open."""

    def __init__(self, library: str, config, agent: str | None):
        # (this module is in the callassist package, whose import turned telemetry off)
        from ..core.models import Models
        from .importer import Importer
        self.library = config.open_store(library)
        self.importer = Importer(self.library, Models.load(config), config, jobs=1, agent=agent)

    def pid(self) -> int:
        return os.getpid()

    def analyse(self, path: str) -> dict:
        result = self.importer.import_one(Path(path))
        values = asdict(result)
        values["path"], values["worker"] = str(result.path), os.getpid()
        return values


def run(paths: Iterable[str | Path], library: str | Path, config, *, address: str | None = None,
        workers: int = 2, agent: str | None = None,
        on_result: Callable[[ImportResult, int, int], None] | None = None,
        on_workers: Callable[[list], None] | None = None) -> list[ImportResult]:
    """Import the recordings under `paths` into `library` on a Ray cluster (`address`, or a
    local one with `workers` CPUs). `on_result(result, done, total)` after each recording;
    `on_workers(actors)` once the workers are up (the tests kill one)."""
    from .store import is_server
    files = find_recordings(paths)
    if address and not is_server(library):
        raise CallAssistError("a Ray cluster on other machines writes into a team's shared "
                              "library: set library = \"postgresql://USER@HOST:PORT/DATABASE\"")
    with config.open_store(library) as lib:  # made (or upgraded) once, here; then the
        known = lib.audio_paths()            # recordings already in it are left out
    results: list[ImportResult] = []
    todo = []
    for f in files:
        if str(f) in known:
            results.append(ImportResult(f, skipped=True, duplicate_of=known[str(f)]))
            if on_result:
                on_result(results[-1], len(results), len(files))
        else:
            todo.append(str(f))
    if not todo:
        return results

    ray = _ray(local=address is None)
    started_here = not ray.is_initialized()
    if started_here:
        kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=max(1, workers), **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
            raise CallAssistError(f"cannot start or reach {where} ({_first_line(exc)}): "
                                  f"check the address (HEAD:6379) and that `ray start` runs "
                                  f"there") from None
    try:
        Worker = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(ImportWorker)
        target = str(library)
        n = max(1, min(workers, len(todo)))
        actors = [Worker.remote(target, config, agent) for _ in range(n)]
        if on_workers:
            ray.get([a.pid.remote() for a in actors])  # up, models loaded
            on_workers(actors)
        idle, queue, pending = list(actors), list(todo), {}
        while queue or pending:
            while queue and idle:
                actor, path = idle.pop(), queue.pop(0)
                pending[actor.analyse.remote(path)] = (actor, path)
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                actor, path = pending.pop(ref)
                try:
                    values = ray.get(ref)
                    values["path"] = Path(values["path"])
                    result = ImportResult(**values)
                except ray.exceptions.RayError as exc:  # the worker could not be made again
                    result = ImportResult(Path(path), error=_ray_error(exc))
                results.append(result)
                idle.append(actor)
                if on_result:
                    on_result(result, len(results), len(files))
    finally:
        if started_here:
            ray.shutdown()
    order = {f: i for i, f in enumerate(files)}
    return sorted(results, key=lambda r: order.get(r.path, 0))


def _first_line(exc: Exception) -> str:
    """The first line of what Ray says (its messages run to pages), at most 200 characters."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _ray_error(exc: Exception) -> str:
    return f"the Ray worker failed ({_first_line(exc)}): import this recording again"

