"""`maskstyle batch ... --ray [ADDRESS]`: one batch spread over the actors of a Ray cluster.

The driver (the machine that runs the command) plans the run and hands out work; it never
touches pixels:
- it lists the inputs and the outputs that exist already (one listing per folder), and
  sends each worker only two names per file: where to read it and where to write its result;
- each worker is a Ray actor that builds the per-file function once, so its engine, encoder
  and prepared style stay warm for every file it gets (a style is prepared once per worker,
  not once per image); it reads the input and writes the output itself, through a path it
  can see (a shared file system) or, with fsspec installed, a URL (s3://, gs://, file://);
- every output is written atomically (temp file + rename on a file system; one PUT on an
  object store), inputs are never written, outputs that exist are skipped unless `force`,
  and a file that fails is reported while the others go on: the promises of `batch.run_batch`,
  with the same report;
- a worker that dies (its process killed, its node lost) is survived: the files it had not
  finished go back in the queue for the other workers (and a replacement worker is started),
  so none is lost; each input is listed once in the report. A file whose worker dies
  MAX_ATTEMPTS times is reported as failed instead of killing the whole cluster.
- Ctrl-C stops the workers; every file written is whole, and a rerun does the rest.

Ray is optional (`pip install 'maskstyle[ray]'`); nothing here imports it at module level.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import socket
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Callable

from .batch import (IMAGE_SUFFIXES, BatchReport, clear_stale_parts, error_text, expand_inputs,
                    output_for)
from .errors import InputError

INSTALL_HINT = "pip install 'maskstyle[ray]'"
IN_FLIGHT = 2       # files queued at each worker, so it never waits for the driver
MAX_ATTEMPTS = 3    # a file whose worker dies this many times is reported as failed
POLL_SECONDS = 1.0  # how long the driver waits for results at a time (Ctrl-C is seen between)


def require_ray():
    """The ray module, or one line that says how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


# ---------------------------------------------------------------- where files are

def is_url(location: str) -> bool:
    return "://" in str(location)


def _fs(url: str):
    """(fsspec file system, path inside it) for a URL."""
    try:
        import fsspec
    except ImportError:
        raise InputError(f"'{url}' is a URL: reading and writing URLs needs fsspec "
                         "(pip install fsspec, and s3fs for s3://, gcsfs for gs://)") from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InputError(f"cannot open '{url}': {exc}") from None


def _is_local_fs(fs) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return "file" in protocols or "local" in protocols


def expand_locations(patterns: list[str]) -> list[str]:
    """Like batch.expand_inputs, for paths and URLs: image files in a stable order, once each."""
    found: list[str] = []
    local = [p for p in patterns if not is_url(p)]
    if local:
        found += [str(p) for p in expand_inputs(local)]
    for pattern in (p for p in patterns if is_url(p)):
        fs, path = _fs(pattern)
        if any(ch in path for ch in "*?["):
            names = [n for n in fs.glob(path) if fs.isfile(n)]
        elif fs.isdir(path):
            names = [e["name"] for e in fs.ls(path, detail=True) if e.get("type") == "file"]
        elif fs.isfile(path):
            names = [path]
        else:
            raise InputError(f"input '{pattern}' does not exist")
        found += sorted(fs.unstrip_protocol(n) for n in names
                        if posixpath.splitext(n)[1].lower() in IMAGE_SUFFIXES)
    unique = list(dict.fromkeys(found))
    if not unique:
        raise InputError("no input images found in: " + ", ".join(patterns))
    return unique


def _stem(location: str) -> str:
    return posixpath.splitext(posixpath.basename(location.rstrip("/")))[0] if is_url(location) \
        else Path(location).stem


def plan_outputs(out_dir: str) -> tuple[Callable[[str], str], set[str]]:
    """(input -> its output, names in the output folder now), making the folder if needed."""
    if is_url(out_dir):
        fs, path = _fs(out_dir)
        fs.makedirs(path, exist_ok=True)
        try:
            names = {posixpath.basename(n.rstrip("/")) for n in fs.ls(path, detail=False)}
        except FileNotFoundError:  # object stores have no empty folders
            names = set()
        base = out_dir.rstrip("/")
        return (lambda source: f"{base}/{_stem(source)}.png"), names
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clear_stale_parts(out)
    out = out.resolve()
    return (lambda source: str(output_for(Path(source), out))), {p.name for p in out.iterdir()}


def exists(location: str) -> bool:
    if is_url(location):
        fs, path = _fs(location)
        return fs.exists(path)
    return Path(location).exists()


def write_atomic(location: str, data: bytes) -> None:
    """A whole file or nothing: temp file + rename on a file system, one PUT on an object store."""
    from .images import write_bytes

    if is_url(location):
        fs, path = _fs(location)
        if not _is_local_fs(fs):
            fs.pipe_file(path, data)
            return
        location = path
    write_bytes(location, data)


def png_bytes(array) -> bytes:
    """The PNG that batch.run_batch writes (images.write_image for a .png name)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- the worker

def _no_stage(fraction: float, name: str) -> None:
    """Workers report files, not stages: the driver's one bar counts files."""


class BatchWorker:
    """One Ray actor: the per-file function built once, then one file per call."""

    def __init__(self, make_process: Callable[[], Callable], label: str):
        self.name = f"{label}@{socket.gethostname()}:{os.getpid()}"
        self.process = make_process()  # engine, encoder and style targets stay warm in here
        self.scratch = tempfile.mkdtemp(prefix="maskstyle-ray-")

    def ready(self) -> str:
        return self.name

    def run(self, source: str, target: str, skip_existing: bool) -> dict:
        began = time.perf_counter()
        status, error = "written", None
        try:
            if skip_existing and exists(target):  # written meanwhile (another run, a lost worker)
                status = "exists"
            else:
                write_atomic(target, png_bytes(self._process(source)))
        except Exception as exc:  # one bad file must not stop the batch
            status, error = "failed", error_text(exc)
        return {"status": status, "error": error, "worker": self.name,
                "seconds": time.perf_counter() - began}

    def _process(self, source: str):
        if not is_url(source):
            return self.process(Path(source), _no_stage)
        fs, path = _fs(source)
        if _is_local_fs(fs):
            return self.process(Path(path), _no_stage)
        folder = Path(tempfile.mkdtemp(dir=self.scratch))  # the same name, so masks match
        try:
            local = folder / posixpath.basename(path)
            local.write_bytes(fs.cat_file(path))
            return self.process(local, _no_stage)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- the driver

def _lost_reason(exc: BaseException) -> str:
    """One line for why a worker is gone."""
    text = str(exc).strip()
    if getattr(exc, "actor_init_failed", False):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return "it could not start: " + (lines[-1] if lines else type(exc).__name__)[:300]
    for line in text.splitlines():
        if "because" in line:  # "The actor is dead because its worker process has died. Worker ..."
            sentences = line.strip().split(". ")
            return ". ".join(sentences[:2]).rstrip(".")[:300]
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def connect(ray, address: str | None, workers: int | None, gpus_per_worker: float) -> bool:
    """Join the cluster at `address`, or start a local runtime (address None or "local").
    True when this call started the connection (and the driver should shut it down)."""
    if ray.is_initialized():  # a program that called ray.init itself (or the tests)
        return False
    quiet = dict(include_dashboard=False, log_to_driver=bool(os.environ.get("MASKSTYLE_DEBUG")),
                 logging_level=logging.ERROR)
    try:
        if address in (None, "local"):
            cpus = max(os.cpu_count() or 1, 0 if gpus_per_worker else workers or 0)
            ray.init(address="local", num_cpus=cpus, **quiet)
        else:
            quiet.pop("include_dashboard")  # a cluster that exists has its own
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = "a local Ray runtime" if address in (None, "local") else f"the Ray cluster at {address}"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"cannot start or reach {where}: {first}") from None
    return True


def _worker_count(ray, workers: int | None, gpus_per_worker: float, local: bool, files: int) -> int:
    total = ray.cluster_resources()
    if gpus_per_worker:
        gpus = total.get("GPU", 0)
        if gpus < gpus_per_worker:
            message = (f"--gpus-per-worker {gpus_per_worker:g}, but the Ray cluster has "
                       f"{gpus:g} GPUs")
            if local:
                raise InputError(message + "; leave the option out to work on the CPUs")
            print(f"maskstyle: warning: {message} now; the workers wait until it has them", file=sys.stderr)
        count = workers or max(1, int(gpus // gpus_per_worker))
    else:
        count = workers or max(1, int(total.get("CPU", 1)))
    return max(1, min(count, files))


def run_ray_batch(op: str, inputs: list[str], out_dir: str, make_process: Callable[[], Callable],
                  force: bool = False, address: str | None = None, workers: int | None = None,
                  gpus_per_worker: float = 0.0, progress_bar: bool = True,
                  on_result: Callable[[dict], None] | None = None) -> BatchReport:
    """run_batch's job on Ray actors. `make_process()` builds the per-file function
    `process(path, stage) -> image` on each worker (so it must pickle: a module-level
    function or a functools.partial of one). `on_result(entry)` sees each file's entry as
    it is recorded. The report is run_batch's, with each worker's name (label@host:pid)."""
    from tqdm import tqdm

    ray = require_ray()
    start = time.perf_counter()
    report = BatchReport(op)
    sources = expand_locations(inputs)
    output_of, present = plan_outputs(out_dir)

    def record(source, target, status, error=None, **kw) -> None:
        entry = report.add(source, target, status, error, **kw)
        if status == "failed":
            tqdm.write(f"failed: {source}: {error}", file=sys.stderr)
        if on_result:
            on_result(entry)

    todo: deque = deque()
    source_set = set(sources)
    for source in sources:
        target = output_of(source)
        if target in source_set:
            record(source, target, "failed",
                   f"its output {target} would overwrite an input; choose another --out folder")
        elif _stem(target) + ".png" in present and not force:
            record(source, target, "skipped")
        else:
            todo.append({"source": source, "target": target, "attempts": 0, "lost": None})
    if not todo:
        report.seconds = time.perf_counter() - start
        report.sort_files(sources)
        return report

    started = connect(ray, address, workers, gpus_per_worker)
    try:
        count = _worker_count(ray, workers, gpus_per_worker, started and address in (None, "local"),
                              len(todo))
        pool = _Pool(ray, make_process, count, gpus_per_worker)
    except BaseException:
        if started:
            ray.shutdown()
        raise
    bar = tqdm(total=len(todo), desc=f"{op} on {count} Ray worker{'s' * (count > 1)}", unit="file",
               disable=not progress_bar or None)

    def finish(item, status, error=None, **kw) -> None:
        record(item["source"], item["target"], status, error, attempts=item["attempts"], **kw)
        bar.update(1)

    try:
        while todo or pool.in_flight:
            pool.dispatch(todo, not force)
            for kind, actor, item, value in pool.wait():
                if kind == "lost":  # the worker is gone; its unfinished files go to the others
                    if item is None:
                        continue
                    item["lost"] = actor["name"] or actor["label"]
                    if item["attempts"] >= MAX_ATTEMPTS:
                        finish(item, "failed", f"its worker was lost {item['attempts']} times ({value})")
                    else:
                        todo.appendleft(item)
                    continue
                status, worker, seconds = value["status"], value["worker"], value["seconds"]
                if status == "exists" and item["lost"]:  # its lost worker wrote it before dying
                    status, worker, seconds = "written", item["lost"], None
                elif status == "exists":  # another run wrote it since the plan was made
                    status, worker, seconds = "skipped", None, None
                finish(item, status, value["error"], worker=worker, seconds=seconds)
                bar.set_postfix_str(f"{len(pool.actors)} workers", refresh=False)
            if todo and not pool.actors:  # nobody left to do them
                while todo:
                    finish(todo.popleft(), "failed", f"no Ray worker left ({pool.last_loss})")
    except KeyboardInterrupt:  # stop the workers; every file written is whole
        report.interrupted = True
        report.unfinished = len(todo) + len(pool.in_flight)
    finally:
        bar.close()
        pool.close()
        if started:
            ray.shutdown()
        if report.interrupted and not is_url(out_dir):
            clear_stale_parts(Path(out_dir))
        report.seconds = time.perf_counter() - start
        report.sort_files(sources)
    return report


class _Pool:
    """The run's Ray actors and the files in flight at each.

    A worker gets files once it is ready (its engine built), so a replacement that is still
    starting does not hold back files the others could do; at the start, when none is ready
    yet, each gets its share at once. A lost worker is replaced, at most as many times as
    the run has workers."""

    def __init__(self, ray, make_process, count: int, gpus_per_worker: float):
        self.ray, self.make_process = ray, make_process
        self.remote = ray.remote(BatchWorker).options(num_cpus=1, num_gpus=gpus_per_worker or 0,
                                                      max_restarts=0)
        self.actors: list[dict] = []
        self.in_flight: dict = {}  # object ref -> (actor, item)
        self.starting: dict = {}   # ready() ref -> actor
        self.labels = iter(range(1, 1 << 30))
        self.replacements = count
        self.last_loss = ""
        for _ in range(count):
            self.add()

    def add(self) -> None:
        label = f"ray-{next(self.labels)}"
        handle = self.remote.remote(self.make_process, label)
        actor = {"handle": handle, "label": label, "name": None, "busy": 0, "ready": False}
        self.actors.append(actor)
        self.starting[handle.ready.remote()] = actor

    def dispatch(self, todo: deque, skip_existing: bool) -> None:
        ready = [a for a in self.actors if a["ready"]] or self.actors
        for slot in range(IN_FLIGHT):  # one file to each worker in turn, then a second
            for actor in ready:
                if todo and actor["busy"] <= slot:
                    item = todo.popleft()
                    item["attempts"] += 1
                    ref = actor["handle"].run.remote(item["source"], item["target"], skip_existing)
                    self.in_flight[ref] = (actor, item)
                    actor["busy"] += 1

    def wait(self):
        """(kind, actor, item, value) for what finished within POLL_SECONDS: ("done", actor,
        item, result) or ("lost", actor, item or None, reason)."""
        from ray.exceptions import RayActorError

        refs = list(self.in_flight) + list(self.starting)
        ready, rest = self.ray.wait(refs, num_returns=1, timeout=POLL_SECONDS)
        if ready and rest:  # and whatever else is done by now: one pass for many workers' results
            ready += self.ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        events = []
        for ref in ready:
            if ref in self.starting:
                actor = self.starting.pop(ref)
                try:
                    actor["name"], actor["ready"] = self.ray.get(ref), True
                except RayActorError as exc:
                    self._lose(actor, exc)
                continue
            actor, item = self.in_flight.pop(ref)
            actor["busy"] -= 1
            try:
                result = self.ray.get(ref)
            except RayActorError as exc:
                events.append(("lost", actor, item, self._lose(actor, exc)))
                continue
            actor["name"], actor["ready"] = result["worker"], True
            events.append(("done", actor, item, result))
        return events

    def _lose(self, actor: dict, exc: BaseException) -> str:
        reason = _lost_reason(exc)
        if actor in self.actors:  # the first word of its death: say so, replace it
            self.actors.remove(actor)
            self.last_loss = reason
            from tqdm import tqdm

            tqdm.write(f"maskstyle: Ray worker {actor['name'] or actor['label']} was lost ({reason}); "
                       f"its unfinished files go to the others", file=sys.stderr)
            self._kill(actor)
            if self.replacements > 0:
                self.replacements -= 1
                self.add()
        return reason

    def _kill(self, actor: dict) -> None:
        try:
            self.ray.kill(actor["handle"])
        except Exception:  # gone already
            pass

    def close(self) -> None:
        for actor in self.actors:
            self._kill(actor)
        self.actors.clear()
