"""The one HTTP client for the maskstyle backend: submit, progress, cancel, fetch.

Standard library only: the GIMP plug-in, the installer, `maskstyle doctor` and the command
line all use it (the backend's `maskstyle.client` adds numpy arrays on top). Every failure is
raised as a BackendError whose text is written for a person.

Run as `python -m maskstyle_wire.client --guard`, this module is the cancel guard: it reads
{"url", "token", "job"} from stdin and cancels the job if stdin closes before its parent
writes "done" (GIMP kills a plug-in whose progress is cancelled).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from . import contract
from .errors import BackendError, BackendUnavailable, ContractMismatch, JobCancelled, JobFailed
from .settings import SETUP_HINT, Settings, load_settings

BUSY_RETRY_SECONDS = 120.0  # how long submit keeps retrying while the backend's queue is full


def encode_multipart(fields: dict, files: dict, boundary: str | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body. files maps part name -> (filename, content type, data)."""
    boundary = boundary or "maskstyle-" + uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
                     f"Content-Type: application/json\r\n\r\n".encode() + value.encode("utf-8") + b"\r\n")
    for name, (filename, content_type, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: {content_type}\r\n\r\n".encode() + bytes(data) + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def png_part(name: str, data: bytes) -> tuple[str, str, bytes]:
    """A file part for submit: (filename, content type, bytes)."""
    return (f"{name}.png", "image/png", data)


def _error_message(err: urllib.error.HTTPError) -> tuple[str, str]:
    try:
        error = json.loads(err.read().decode("utf-8"))["error"]
        return str(error["message"]), str(error.get("code") or "error")
    except Exception:
        return f"The maskstyle backend answered HTTP {err.code} ({err.reason}).", f"http_{err.code}"


def with_time_left(stage: str, eta_seconds) -> str:
    """'painting' -> 'painting, about 40 s left' when the backend can tell."""
    if not isinstance(eta_seconds, (int, float)) or isinstance(eta_seconds, bool) or eta_seconds < 0:
        return stage
    if eta_seconds < 60:
        left = f"about {max(1, round(eta_seconds))} s left"
    else:
        left = f"about {round(eta_seconds / 60)} min left"
    return f"{stage}, {left}" if stage else left


class Client:
    """Talks to one backend. Never uses a proxy: the backend is on this machine.

    `on_status`, if given, is called with the HTTP status of every answer, the 429s that submit
    retries by itself included: a way to watch what a client is answered (the load test and
    bench count them)."""

    def __init__(self, url: str, token: str, timeout: float = 60.0, on_status=None):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.on_status = on_status
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.process = None  # the backend process this client started, if it started one

    @classmethod
    def from_settings(cls, settings: Settings | None = None, timeout: float = 60.0) -> "Client":
        settings = settings or load_settings()
        return cls(settings.url, settings.token, timeout)

    # -- HTTP

    def _request(self, method: str, path: str, body: bytes | None = None,
                 content_type: str | None = None, auth: bool = True, timeout: float | None = None) -> bytes:
        url = path if path.startswith(("http://", "https://")) else self.url + "/" + path.lstrip("/")
        request = urllib.request.Request(url, data=body, method=method)
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with self._opener.open(request, timeout=timeout or self.timeout) as response:
                data = response.read()
                self._answered(response.status)
                return data
        except urllib.error.HTTPError as err:
            self._answered(err.code)
            message, code = _error_message(err)
            if err.code == 401:
                message = f"The maskstyle backend refused the access token: {message} {SETUP_HINT}"
            raise BackendError(message, code, err.code) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise BackendUnavailable(f"Cannot reach the maskstyle backend at {self.url} ({reason}): it is "
                                     "not running there. Start it with `maskstyle serve`.", "unreachable") from None

    def _answered(self, status: int) -> None:
        if self.on_status is not None:
            self.on_status(status)

    def _json(self, method: str, path: str, **kwargs) -> dict:
        data = self._request(method, path, **kwargs)
        try:
            answer = json.loads(data.decode("utf-8"))
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise BackendError(f"The maskstyle backend at {self.url} sent an answer that is not a JSON object.",
                               "bad_answer")
        return answer

    # -- the API

    def health(self, timeout: float = 5.0) -> dict:
        return self._json("GET", "/v1/health", auth=False, timeout=timeout)

    def info(self) -> dict:
        return self._json("GET", "/v1/info")

    def check_contract(self) -> dict:
        """The backend's info; ContractMismatch when it speaks another contract version."""
        info = self.info()
        theirs = (info.get("contract") or {}).get("version")
        if theirs != contract.CONTRACT_VERSION:
            raise ContractMismatch(
                f"The maskstyle backend at {self.url} (version {info.get('version', 'unknown')}) speaks "
                f"contract version {theirs}, and this client speaks {contract.CONTRACT_VERSION}. "
                "Install the plug-in and the backend from the same release (run the installer again).",
                "contract_mismatch")
        return info

    def submit(self, op: str, params: dict, files: dict, busy_retry: float = BUSY_RETRY_SECONDS) -> str:
        """Send a job; its id. files maps part name -> (filename, content type, bytes).

        While the backend's queue is full (HTTP 429), the job is sent again with a growing pause,
        for up to busy_retry seconds."""
        request = json.dumps({"op": op, "params": params})
        body, content_type = encode_multipart({"request": request}, files)
        deadline, pause = time.monotonic() + busy_retry, 0.1
        while True:
            try:
                answer = self._json("POST", "/v1/jobs", body=body, content_type=content_type)
                break
            except BackendError as err:
                if err.status != 429 or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
        if "id" not in answer:
            raise BackendError("The maskstyle backend accepted the job but gave no job id.", "bad_answer")
        return str(answer["id"])

    def status(self, job_id: str) -> dict:
        return self._json("GET", f"/v1/jobs/{urllib.parse.quote(job_id)}")

    def cancel(self, job_id: str) -> None:
        self._request("DELETE", f"/v1/jobs/{urllib.parse.quote(job_id)}")

    def result(self, job_id: str) -> dict:
        """The result manifest: {"layers": [{"name", "x", "y", "width", "height", "url", ...}], ...}."""
        return self._json("GET", f"/v1/jobs/{urllib.parse.quote(job_id)}/result")

    def fetch(self, url: str) -> bytes:
        """One result layer's PNG; `url` is relative to the server (or absolute)."""
        return self._request("GET", url)

    def wait(self, job_id: str, on_progress=None, poll_interval: float = 0.25) -> dict:
        """Poll until the job ends; on_progress(fraction, stage) is called on every poll."""
        while True:
            state = self.status(job_id)
            if on_progress:
                on_progress(float(state.get("progress") or 0.0),
                            with_time_left(str(state.get("stage") or ""), state.get("eta_seconds")))
            if state.get("state") == "done":
                return state
            if state.get("state") == "failed":
                error = state.get("error") or {}
                raise JobFailed(error.get("message") or "The maskstyle backend could not finish the job.",
                                error.get("code") or "failed")
            if state.get("state") == "cancelled":
                raise JobCancelled("The maskstyle job was cancelled.", "cancelled")
            time.sleep(poll_interval)

    def run_job(self, op: str, params: dict, files: dict, on_progress=None, guard: bool = True,
                poll_interval: float = 0.25) -> dict:
        """Submit, wait and return the result manifest. The job is cancelled if this process
        raises (Ctrl+C included) or, with guard, dies."""
        job_id = self.submit(op, params, files)
        watcher = CancelGuard(self, job_id) if guard else None
        try:
            self.wait(job_id, on_progress, poll_interval)
            return self.result(job_id)
        except (JobFailed, JobCancelled):
            raise
        except BackendUnavailable as err:  # it answered the submit, so it stopped mid-job
            raise BackendUnavailable(f"The maskstyle backend at {self.url} stopped while it worked on the job, "
                                     "so there is no result and nothing was changed. It may have run out of "
                                     "memory: see backend.log beside the maskstyle config, then try again.",
                                     "backend_stopped") from err
        except BaseException:
            try:
                self.cancel(job_id)
            except BackendError:
                pass
            raise
        finally:
            if watcher:
                watcher.release()

    def run(self, op: str, params: dict, files: dict, on_progress=None, guard: bool = False,
            poll_interval: float = 0.25) -> tuple[dict, list]:
        """run_job, then fetch every layer: (manifest, [PNG bytes, one per manifest layer])."""
        manifest = self.run_job(op, params, files, on_progress, guard, poll_interval)
        layers = manifest.get("layers")
        if not isinstance(layers, list):
            raise BackendError("The maskstyle backend finished but sent no result layers.", "bad_answer")
        return manifest, [self.fetch(layer["url"]) for layer in layers]


# ---------------------------------------------------------------- starting the backend

def start_backend(settings: Settings, on_wait=None, timeout: float = 120.0, interval: float = 0.5) -> Client:
    """Start the backend from the config's backend_command and wait until it answers.

    on_wait(seconds_waited) is called while waiting; returning False from it stops waiting."""
    client = Client.from_settings(settings)
    if not settings.backend_command:
        raise BackendUnavailable(f"The maskstyle backend is not running at {settings.url}, and maskstyle "
                                 "is not set up to start it by itself. To fix this once and for all, run "
                                 "the maskstyle installer again: it sets up the automatic start. To go on "
                                 "right now, open a terminal, run `maskstyle serve`, leave it open, and try "
                                 "again.", "unreachable")
    log_path = settings.config_path.parent / "backend.log" if settings.config_path else None
    log = subprocess.DEVNULL
    if log_path:
        try:
            log = open(log_path, "ab")
        except OSError:
            log_path = None
    options = {"stdin": subprocess.DEVNULL, "stdout": log, "stderr": subprocess.STDOUT, "close_fds": True}
    if os.name == "nt":
        options["creationflags"] = (subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
                                    | getattr(subprocess, "CREATE_NO_WINDOW", 0))
    else:
        options["start_new_session"] = True
    try:
        process = subprocess.Popen(settings.backend_command, **options)
    except OSError as err:
        raise BackendUnavailable(f"The maskstyle backend could not be started with "
                                 f"{' '.join(settings.backend_command)!r}: {err.strerror or err}. {SETUP_HINT}",
                                 "start_failed") from None
    finally:
        if log is not subprocess.DEVNULL:
            log.close()
    started = time.monotonic()
    while True:
        try:
            client.health(timeout=2.0)
            client.process = process
            return client
        except BackendError:
            pass
        waited = time.monotonic() - started
        if process.poll() is not None:
            where = f" See {log_path}." if log_path else ""
            raise BackendUnavailable(f"The maskstyle backend stopped right after starting (exit code "
                                     f"{process.returncode}).{where} {SETUP_HINT}", "start_failed")
        if waited > timeout or (on_wait and on_wait(waited) is False):
            process.terminate()  # do not leave a half-started backend behind
            raise BackendUnavailable(f"The maskstyle backend did not answer at {settings.url} within "
                                     f"{int(waited)} s after starting. {SETUP_HINT}", "start_failed")
        time.sleep(interval)


def connect(settings: Settings | None = None, on_wait=None, timeout: float = 120.0) -> Client:
    """A client for a running backend of this contract, starting the backend first if needed."""
    settings = settings or load_settings()
    client = Client.from_settings(settings)
    try:
        client.health()
    except BackendError:
        client = start_backend(settings, on_wait, timeout)
    client.check_contract()
    return client


# ---------------------------------------------------------------- cancel guard

class CancelGuard:
    """A helper process that cancels the job if this process ends before release()."""

    def __init__(self, client: Client, job_id: str):
        self.process = None
        package_parent = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_parent,
                                                                         os.environ.get("PYTHONPATH")])))
        try:
            self.process = subprocess.Popen([sys.executable, "-m", "maskstyle_wire.client", "--guard"],
                                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, close_fds=True, env=env,
                                            **({"start_new_session": True} if os.name != "nt" else {}))
            line = json.dumps({"url": client.url, "token": client.token, "job": job_id}) + "\n"
            self.process.stdin.write(line.encode())
            self.process.stdin.flush()
        except OSError:
            self.process = None  # best effort: without a guard, a killed plug-in leaves the job running

    def release(self) -> None:
        if self.process is None:
            return
        try:
            self.process.stdin.write(b"done\n")
            self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.process = None


def _guard_main() -> int:
    job = json.loads(sys.stdin.readline())
    if sys.stdin.readline().strip() == "done":
        return 0
    try:
        Client(job["url"], job["token"], timeout=10).cancel(job["job"])
    except BackendError:
        pass
    return 0


if __name__ == "__main__" and sys.argv[1:] == ["--guard"]:
    sys.exit(_guard_main())
