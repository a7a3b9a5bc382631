"""The FastAPI app: the wire contract of DESIGN.md (auth, Host check, limits, JSON errors)."""

from __future__ import annotations

import collections
import email.message
import hmac
import json
import platform
import threading

from fastapi import FastAPI, Request
from maskstyle_wire import contract
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .. import __version__
from ..errors import InputError
from ..images import read_image, read_mask
from .jobs import Job, JobQueue, QueueFull
from .ops import OPS

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]", "::1"}


class Settings:
    def __init__(self, token: str, port: int, max_upload_bytes: int = 256 << 20,
                 max_request_json: int = 64 << 10, max_queued: int = 8, cache_entries: int = 64):
        self.token, self.port = token, port
        self.max_upload_bytes, self.max_request_json = max_upload_bytes, max_request_json
        self.max_queued, self.cache_entries = max_queued, cache_entries


class LRUCache(collections.OrderedDict):
    """Style preparations reused across jobs: Gram targets, palettes and patch banks of the
    same painting at the same size."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit, self.hits, self.misses = limit, 0, 0
        self._lock = threading.Lock()

    def __contains__(self, key):
        with self._lock:
            found = super().__contains__(key)
            if found:
                self.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return found

    def __setitem__(self, key, value):
        with self._lock:
            super().__setitem__(key, value)
            while len(self) > self.limit:
                self.popitem(last=False)


def error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


def host_allowed(host: str | None, port: int) -> bool:
    """Only loopback names, on our own port: a page on another site that resolves its
    name to 127.0.0.1 (DNS rebinding) still sends its own name and is refused."""
    if not host:
        return False
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name, port_part = name + "]", rest.lstrip(":")
    else:
        name, _, port_part = host.partition(":")
    if name.lower() not in LOOPBACK_NAMES:
        return False
    return not port_part or port_part == str(port)


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="maskstyle backend", version=__version__, docs_url=None, redoc_url=None)
    jobs = JobQueue(max_queued=settings.max_queued)
    cache = LRUCache(settings.cache_entries)
    app.state.jobs, app.state.cache = jobs, cache

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if not host_allowed(request.headers.get("host"), settings.port):
            return error(403, "forbidden_host", "requests must be addressed to the loopback "
                         "address (127.0.0.1 or localhost) of this backend")
        if request.url.path != "/v1/health":
            given = request.headers.get("authorization", "")
            expected = f"Bearer {settings.token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return error(401, "unauthorized", "missing or wrong token: the plug-in and the "
                             "backend must use the token in the maskstyle config file",
                             {"WWW-Authenticate": "Bearer"})
        length = request.headers.get("content-length")
        if request.method == "POST" and not (length and length.isdigit()):
            # without a declared length the upload limit could not be enforced up front
            return error(411, "length_required", "send uploads with a Content-Length header")
        if length and length.isdigit() and int(length) > settings.max_upload_bytes:
            return error(413, "too_large", f"the upload is {int(length) >> 20} MB; the limit is "
                         f"{settings.max_upload_bytes >> 20} MB")
        return await call_next(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        return error(422, "bad_request", "the request is malformed: " + _describe(exc.errors()))

    @app.get("/v1/health")
    def health():
        return {"status": "ok", "version": __version__}

    @app.get("/v1/info")
    def info():
        return _info(jobs, cache)

    @app.post("/v1/jobs", status_code=202)
    async def submit(request: Request):
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return error(415, "bad_request", "send the job as multipart/form-data with a "
                         "'request' part and image parts")
        try:
            form = await _read_form(request)
        except InputError as exc:
            return error(400, exc.code, str(exc))
        try:
            op, params, files = _parse(form, settings)
            inputs = await run_in_threadpool(_decode, op, files)
        except InputError as exc:
            return error(400, exc.code, str(exc))
        finally:
            await form.close()
        spec = OPS[op]
        job = Job(op=op, run=lambda progress, cancelled: spec.run(inputs, params, progress,
                                                                  cancelled, cache))
        try:
            jobs.submit(job)
        except QueueFull as exc:
            return error(429, exc.code, str(exc), {"Retry-After": "5"})
        return {"id": job.id}

    @app.get("/v1/jobs/{job_id}")
    def status(job_id: str):
        job = jobs.get(job_id)
        return job.status() if job else _no_job(job_id)

    @app.delete("/v1/jobs/{job_id}")
    def cancel(job_id: str):
        job = jobs.cancel(job_id)
        return job.status() if job else _no_job(job_id)

    @app.get("/v1/jobs/{job_id}/result")
    def result(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            return _no_job(job_id)
        if job.state != "done":
            return error(409, "not_ready", f"the job is {job.state}, not done" +
                         (f": {job.error['message']}" if job.error else ""))
        r = job.result
        layers = [{"name": l.name, **l.rect._asdict(), "url": f"/v1/jobs/{job.id}/layers/{i}.png"}
                  for i, l in enumerate(r.layers)]
        return {"layers": layers, "encoder": r.encoder, "device": r.device, "info": r.info}

    @app.get("/v1/jobs/{job_id}/layers/{index}.png")
    def layer_png(job_id: str, index: int):
        job = jobs.get(job_id)
        if job is None or job.state != "done" or not 0 <= index < len(job.result.layers):
            return error(404, "not_found", f"no layer {index} for job {job_id}")
        return Response(job.result.layers[index].png, media_type="image/png")

    return app


MAX_FORM_FIELDS = 8  # parts without a filename: the 'request' part, and room for a few more
CUT_SHORT = "the upload was cut short before its end; send it again"


async def _read_form(request: Request):
    """The multipart form, through Starlette's public Request API; InputError ('bad_upload') when
    the client goes away mid-upload, when the body is not multipart that Starlette can parse, or
    when it ends before its close delimiter.

    The last check is ours: python-multipart does not make it (its finalize() checks nothing),
    and the parser drops a part that was cut short without a word, so a cut upload would read as
    one that never sent its last part. The body is read whole first (at most the upload limit,
    checked before any of it is read; the parts are read whole for decoding anyway), and
    request.form() parses what request.body() kept."""
    try:
        body = await request.body()
    except ClientDisconnect:
        raise InputError(CUT_SHORT, "bad_upload") from None
    try:
        form = await request.form(max_files=contract.MAX_FILE_PARTS, max_fields=MAX_FORM_FIELDS)
    except StarletteHTTPException as exc:  # what form() raises inside an app for a bad body
        raise InputError(f"the upload is not multipart form data that can be read ({exc.detail}); "
                         "send it again", "bad_upload") from None
    if not _has_close_delimiter(body, request.headers["content-type"]):
        await form.close()
        raise InputError(CUT_SHORT, "bad_upload")
    return form


def _has_close_delimiter(body: bytes, content_type: str) -> bool:
    """Whether a multipart body holds its close delimiter, "--" boundary "--" (after CRLF, or
    at the very start of a body without parts). It cannot stand inside a part, and what
    follows it is an epilogue that parsers ignore."""
    header = email.message.Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        return False
    delimiter = b"--" + boundary.encode("latin-1", "replace") + b"--"
    return body.startswith(delimiter) or b"\r\n" + delimiter in body


def _no_job(job_id: str) -> JSONResponse:
    return error(404, "not_found", f"no job {job_id[:64]}: it never existed or its result "
                 "has expired")


def _describe(errors) -> str:
    parts = []
    for e in errors[:3]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body",))
        if e.get("type") == "extra_forbidden":
            parts.append(f"unknown parameter '{where}'")
            continue
        parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else e.get("msg", "invalid"))
    return "; ".join(parts)


def _parse(form, settings: Settings):
    raw = form.get("request")
    if raw is None:
        raise InputError("the 'request' part is missing: send {\"op\": ..., \"params\": {...}}")
    if not isinstance(raw, str):
        raw = raw.file.read(settings.max_request_json + 1).decode("utf-8", "replace")
    if len(raw) > settings.max_request_json:
        raise InputError("the 'request' JSON is too large")
    try:
        request = json.loads(raw)
    except ValueError:
        raise InputError("the 'request' part is not valid JSON") from None
    if not isinstance(request, dict):
        raise InputError("the 'request' part must be a JSON object")
    op = request.get("op")
    if op not in OPS:
        raise InputError(f"unknown op {str(op)[:40]!r}; this backend runs: {', '.join(OPS)}", "unknown_op")
    params = request.get("params", {})
    if not isinstance(params, dict):
        raise InputError("'params' must be a JSON object")
    try:
        params = OPS[op].params(**params)
    except ValidationError as exc:
        raise InputError(f"bad parameters for {op}: " + _describe(exc.errors()), "bad_params") from None
    files = {}
    for name in OPS[op].files:
        part = form.get(name)
        if part is None or isinstance(part, str):
            if name in OPS[op].required:
                raise InputError(f"the '{name}' file part is missing for {op}")
            continue
        files[name] = part.file.read()
    return op, params, files


def _decode(op: str, files: dict[str, bytes]) -> dict:
    kinds = OPS[op].files
    if OPS[op].check is not None:
        OPS[op].check(files)
    inputs = {}
    image = read_image(files["image"], "image") if "image" in files else None
    size = (image.shape[1], image.shape[0]) if image is not None else None
    for name, data in files.items():
        if kinds[name] == "image":
            inputs[name] = image
        elif kinds[name] == "style":
            inputs[name] = read_image(data, "style image")
        elif kinds[name] == "mask":
            inputs[name] = read_mask(data, size, name)
        elif kinds[name] == "hint":
            inputs[name] = read_mask(data, size, "hint", allow_empty=True)
    return inputs


def _info(jobs: JobQueue, cache: LRUCache) -> dict:
    import torch
    import torchvision

    from .. import models
    from ..engine.devices import pick_device
    from ..engine.encoders import available_encoders, default_encoder_name

    device = pick_device()
    return {
        "version": __version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
        "encoders": available_encoders(),
        "default_encoder": default_encoder_name(),
        "models": {name: models.is_installed(name) for name in models.REGISTRY},
        "ops": sorted(OPS),
        "contract": contract.describe(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "torchvision": torchvision.__version__},
        "queue": {"queued": jobs.depth(), "running": jobs.running(), "limit": jobs.max_queued},
        "cache": {"entries": len(cache), "hits": cache.hits, "misses": cache.misses},
    }
