"""maskstyle: restyle part of an image, harmonize a pasted layer, or select the subject.

Run 'maskstyle COMMAND --help' for a command's options. The GIMP plug-in talks to
'maskstyle serve'; 'maskstyle doctor' checks an install.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from maskstyle_wire import contract

from . import __version__
from .errors import InputError, MaskstyleError


def _progress_bar(desc: str):
    """A tqdm bar fed with (fraction, stage) callbacks; silent when stderr is not a terminal."""
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=desc, unit="‰", leave=False,
               disable=None, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

    def update(fraction: float, stage: str) -> None:
        bar.set_description_str(f"{desc}: {stage}", refresh=False)
        bar.update(max(0, round(fraction * 1000) - bar.n))

    return bar, update


def add_contract_options(parser, op: str, names: list[str], defaults: bool = True) -> None:
    """--NAME options for these parameters of a contract operation: its types, choices,
    defaults and help, so the command line never lists a choice of its own. Without
    defaults, an option left out is None (batch: each operation's own default applies)."""
    for name in names:
        param = contract.OPERATIONS[op].param(name)
        flag, text = "--" + name.replace("_", "-"), param.help.replace("%", "%%")
        if param.kind == "bool":
            parser.add_argument(flag, action="store_true", help=text)
            continue
        kind = {"choice": str, "int": int, "float": float, "text": str}[param.kind]
        extra = {"choices": param.values} if param.choices else {}
        if param.minimum is not None and param.maximum is not None:
            low, high = (int(v) if float(v).is_integer() else v for v in (param.minimum, param.maximum))
            text += f" ({low} to {high})"
        if param.default is not None and not defaults:
            text += f" (default: {param.default} for {op})"
        parser.add_argument(flag, type=kind, default=param.default if defaults else None, help=text, **extra)


STYLIZE_OPTIONS = ["quality", "strength", "preserve_color", "seed", "encoder", "method", "iterations",
                   "max_side", "seam", "seam_width", "boundary_tv", "regions_method"]


def _check_out(path: str, *inputs: str) -> Path:
    out = Path(path)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"):
        raise InputError(f"cannot write '{out}': use a .png, .jpg, .webp or .tif name")
    for src in inputs:
        if src and Path(src).exists() and out.exists() and out.resolve() == Path(src).resolve():
            raise InputError(f"'{out}' is also an input; choose another output so nothing is lost")
    if out.parent and not out.parent.exists():
        raise InputError(f"the output folder '{out.parent}' does not exist")
    if not os.access(out.parent or Path("."), os.W_OK):
        raise InputError(f"the output folder '{out.parent}' is not writable")
    return out


def write_layers(folder: str | Path, layers, encoder: str, device: str, size) -> Path:
    """Write layers as GIMP receives them: RGBA crop (its alpha is its mask, as the contract
    says), the mask alone too, and the offsets in layers.json."""
    from .images import write_png

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"image": {"width": size[1], "height": size[0]}, "encoder": encoder,
                "device": device, "layers": []}
    for i, layer in enumerate(layers):
        stem = f"layer{i}"
        write_png(folder / f"{stem}.png", layer.rgba)
        write_png(folder / f"{stem}_mask.png", layer.mask)
        manifest["layers"].append({
            "name": layer.name, "x": layer.x, "y": layer.y,
            "width": layer.rgb.shape[1], "height": layer.rgb.shape[0],
            "file": f"{stem}.png", "mask": f"{stem}_mask.png"})
    (folder / "layers.json").write_text(json.dumps(manifest, indent=2))
    return folder / "layers.json"


def _parse_region(text: str) -> tuple[str, str]:
    """--region MASK.png=STYLE -> (mask path, style path)."""
    mask, sep, style = text.partition("=")
    if not sep or not mask.strip() or not style.strip():
        raise InputError(f"--region takes MASK.png=STYLE (a mask file, '=', a style image), not '{text}'")
    return mask, style


def _check_stylize_form(args) -> None:
    """--style with --mask, or one or more --region: one clear line when they are mixed wrongly."""
    if args.region:
        if args.style or args.mask:
            raise InputError("give either --style with --mask, or --region MASK.png=STYLE "
                             "(one or more), not both")
        return
    if args.rest:
        raise InputError("--rest styles what no --region covers, so it needs at least one --region")
    missing = [flag for flag, value in (("--style", args.style), ("--mask", args.mask)) if not value]
    if missing:
        raise InputError(f"stylize needs --style and --mask (or --region MASK.png=STYLE); "
                         f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing")


def _write_result(args, out: Path, result, size, details: str = "") -> None:
    """Write the full image, say what ran, and the layers too when --layers-dir asks."""
    from .images import write_image

    write_image(out, result.image)
    method = getattr(result, "method", None)
    ran = f"method {method}" if method == "patch" else f"encoder {result.encoder}"
    print(f"wrote {out} ({details}{ran}, device {result.device})")
    if getattr(args, "layers_dir", None):
        manifest = write_layers(args.layers_dir, result.layers, result.encoder, result.device, size)
        print(f"wrote layers to {manifest.parent}")


def _stylize_options(args):
    from .engine.stylize import StylizeOptions

    options = StylizeOptions(**{name: getattr(args, name) for name in STYLIZE_OPTIONS
                                if getattr(args, name, None) is not None},
                             device=getattr(args, "device", None))
    options.validate()
    return options


def cmd_stylize(args) -> int:
    """One --style/--mask, or several --region MASK=STYLE (and --rest), in-process or on --server."""
    from .engine.stylize import Region, stylize, stylize_regions
    from .images import read_image, read_mask

    _check_stylize_form(args)
    regions = [_parse_region(text) for text in args.region or []]
    out = _check_out(args.out, args.content, args.style, args.mask, args.rest,
                     *[path for region in regions for path in region])
    options = _stylize_options(args)
    content = read_image(args.content, "content image")
    size = (content.shape[1], content.shape[0])
    single = not regions
    if single:
        regions = [(args.mask, args.style)]
    parts = []
    for i, (mask_path, style_path) in enumerate(regions, 1):
        parts.append(Region(read_mask(mask_path, size, "mask" if single else f"region {i} mask"),
                            read_image(style_path, "style image" if single else f"region {i} style"),
                            f"Stylized ({Path(style_path).stem})"))
    rest = read_image(args.rest, "rest style") if args.rest else None
    rest_name = f"Stylized ({Path(args.rest).stem}, rest)" if args.rest else ""
    bar, update = _progress_bar("stylize")
    try:
        if args.server:
            result = _stylize_on_server(args, content, parts, regions, rest_name, options, update)
        elif single:
            result = stylize(content, parts[0].mask, parts[0].style, options, progress=update,
                             layer_name=parts[0].name)
        else:
            result = stylize_regions(content, parts, rest, options, progress=update, rest_name=rest_name)
    finally:
        bar.close()
    count = len(result.layers)
    details = f"{count} layers, " if count > 1 else ""
    _write_result(args, out, result, content.shape[:2], details)
    return 0


def stylize_params(options) -> dict:
    """The contract's stylize parameters that StylizeOptions sets."""
    return {name: getattr(options, name) for name in STYLIZE_OPTIONS if getattr(options, name) is not None}


def _stylize_on_server(args, content, parts, paths, rest_name, options, progress):
    """The stylize op on a backend, sent as one mask and style or as regions."""
    from .client import Client

    params, files = stylize_params(options), {"image": content}
    if len(parts) == 1 and not args.rest and not args.region:
        params["name"] = parts[0].name
        files.update(mask=parts[0].mask, style=paths[0][1])
    else:
        params["names"] = [part.name for part in parts]
        for i, (part, (_, style_path)) in enumerate(zip(parts, paths)):
            files[f"mask{i}"], files[f"style{i}"] = part.mask, style_path
        if args.rest:
            files["rest"], params["rest_name"] = args.rest, rest_name
    manifest, layers = Client(args.server, args.token).run("stylize", params, files, progress)
    return result_from_layers(content, manifest, layers)


def result_from_layers(image, manifest: dict, layers):
    """A backend's answer as the engine's result: each layer blended in through its alpha,
    which the contract says is its mask."""
    from .engine.composite import paste
    from .engine.stylize import Layer, StylizeResult

    out, engine_layers = image, []
    for layer in layers:
        rgb, mask = layer.rgba[..., :3].copy(), layer.rgba[..., 3].copy()
        engine_layers.append(Layer(layer.name, layer.x, layer.y, rgb, mask))
        out = paste(out, rgb, mask, layer.x, layer.y)
    return StylizeResult(out, engine_layers, manifest.get("encoder", "none"), manifest.get("device", "?"),
                         method=(manifest.get("info") or {}).get("method", ""))


def cmd_blur(args) -> int:
    from .engine.blur import portrait_blur
    from .images import read_image, read_mask, write_image

    out = _check_out(args.out, args.image, args.mask)
    image = read_image(args.image, "image")
    mask = read_mask(args.mask, (image.shape[1], image.shape[0]))
    bar, update = _progress_bar("blur")
    try:
        result = portrait_blur(image, mask, args.radius, progress=update)
    finally:
        bar.close()
    write_image(out, result)
    print(f"wrote {out}")
    return 0


def cmd_harmonize(args) -> int:
    from .engine.harmonize import harmonize
    from .images import read_image, read_mask

    out = _check_out(args.out, args.composite, args.mask)
    composite = read_image(args.composite, "composite image")
    mask = read_mask(args.mask, (composite.shape[1], composite.shape[0]))
    bar, update = _progress_bar(f"harmonize ({args.mode})")
    try:
        result = harmonize(composite, mask, mode=args.mode, strength=args.strength, seed=args.seed,
                           quality=args.quality, progress=update, iterations=args.iterations,
                           device=args.device)
    finally:
        bar.close()
    _write_result(args, out, result, composite.shape[:2], f"mode {args.mode}, ")
    return 0


def cmd_segment(args) -> int:
    from .engine.segment import segment
    from .images import read_image, read_mask, write_png

    out = _check_out(args.out, args.image, args.hint)
    if out.suffix.lower() != ".png":
        raise InputError(f"write the mask as a .png, not '{out.suffix}'")
    image = read_image(args.image)
    hint = None
    if args.hint:
        hint = read_mask(args.hint, (image.shape[1], image.shape[0]), "hint",
                         allow_empty=args.target != "refine")
    elif args.target == "refine":
        raise InputError("--target refine needs --hint HINT.png: the rough selection to refine")
    bar, update = _progress_bar(f"segment ({args.target})")
    try:
        result = segment(image, args.target, hint, progress=update, device=args.device)
    finally:
        bar.close()
    write_png(out, result.mask)
    for warning in result.warnings:
        print(f"maskstyle: warning: {warning}", file=sys.stderr)
    print(f"wrote {out} (method {result.method})")
    return 0


def _segment_mask(image, target):
    from .engine.segment import segment

    return segment(image, target).mask


def _batch_masks(args):
    from .batch import MaskSource

    return MaskSource(args.mask_dir, args.mask, args.invert, _segment_mask)


def batch_worker_process(args):
    """The per-file function of `maskstyle batch`, built where it runs (on a Ray worker): its
    own engine and style cache, kept for every file that worker gets."""
    return _batch_process(args, _batch_masks(args), None)


def _check_batch_mode(args) -> None:
    """--ray, --server and their own options: one clear line when they are mixed wrongly."""
    if args.ray is None:
        given = [flag for flag, value in (("--workers", args.workers),
                                          ("--gpus-per-worker", args.gpus_per_worker)) if value is not None]
        if given:
            raise InputError(f"{' and '.join(given)} {'go' if len(given) > 1 else 'goes'} with --ray")
        return
    if args.server:
        raise InputError("give --ray (a Ray cluster) or --server (one backend), not both")
    if args.jobs != 1:
        raise InputError("--jobs is for --server; with --ray, --workers N says how many workers")
    if args.workers is not None and args.workers < 1:
        raise InputError("--workers must be at least 1")
    if args.gpus_per_worker is not None and args.gpus_per_worker < 0:
        raise InputError("--gpus-per-worker cannot be negative")
    from .ray_batch import require_ray

    require_ray()


def cmd_batch(args) -> int:
    from .batch import run_batch, write_report

    for param in contract.OPERATIONS[args.op].params:  # options left out take this op's defaults
        if getattr(args, param.name, None) is None and param.default is not None:
            setattr(args, param.name, param.default)
    _check_batch_mode(args)
    masks = _batch_masks(args)
    client = None
    if args.server:
        from .client import Client

        client = Client(args.server, args.token, timeout=600)
    process = _batch_process(args, masks, client)  # with --ray: checks the options once, here
    if args.op == "segment":
        using = f"hints from {args.mask_dir}" if args.mask_dir else f"target {args.target}"
    else:
        using = masks.describe()
    print(f"{args.op}: {using}; writing to {args.out}", file=sys.stderr)
    if args.ray is not None:
        import functools

        from .ray_batch import run_ray_batch

        report = run_ray_batch(args.op, args.inputs, args.out, functools.partial(batch_worker_process, args),
                               force=args.force, address=args.ray, workers=args.workers,
                               gpus_per_worker=args.gpus_per_worker or 0.0)
    else:
        report = run_batch(args.op, args.inputs, args.out, process, force=args.force, jobs=args.jobs,
                           worker=args.server or "local")
    print(report.summary())  # each failure was printed to stderr as it happened
    if args.report:
        write_report(args.report, report)
    return 130 if report.interrupted else 1 if report.failed else 0


def _batch_process(args, masks, client):
    """The per-file function for `maskstyle batch OP`: image path -> output array."""
    from .images import read_image

    if args.op == "stylize":
        from .engine.stylize import stylize

        if not args.style:
            raise InputError("batch stylize needs --style STYLE")
        style = read_image(args.style, "style image")
        options = _stylize_options(args)
        cache = None if args.no_style_cache else {}  # style targets, shared by every file
        name = f"Stylized ({Path(args.style).stem})"

        def process(source, stage):
            image = read_image(source)
            mask = masks.mask_for(source, image)
            if client:
                params = {**stylize_params(options), "name": name}
                files = {"image": image, "mask": mask, "style": args.style}
                return result_from_layers(image, *client.run("stylize", params, files, stage)).image
            return stylize(image, mask, style, options, progress=stage, cache=cache).image
        return process

    if args.op == "harmonize":
        from .engine.harmonize import harmonize

        if not (args.mask_dir or args.mask):
            raise InputError("batch harmonize needs the pasted objects' masks: --mask-dir DIR "
                             "or --mask auto:subject")

        def process(source, stage):
            image = read_image(source)
            mask = masks.mask_for(source, image)
            if client:
                return _remote_harmonize(client, image, mask, args, stage)
            return harmonize(image, mask, mode=args.mode, strength=args.strength, seed=args.seed,
                             quality=args.quality, iterations=args.iterations, progress=stage).image
        return process

    from .engine.segment import segment

    def process(source, stage):
        image = read_image(source)
        hint = None
        if args.mask_dir:  # rough selections to refine, or location cues
            hint = masks.mask_for(source, image)
        if args.target == "refine" and hint is None:
            raise InputError("batch segment --target refine needs --mask-dir with the rough selections")
        if client:
            files = {"image": image, **({"hint": hint} if hint is not None else {})}
            _, layers = client.run("segment", {"target": args.target}, files, stage)
            return np.ascontiguousarray(layers[0].rgba[..., 3])  # the layer's alpha is the mask
        return segment(image, args.target, hint, progress=stage).mask
    return process


def _remote_harmonize(client, image, mask, args, stage):
    params = {"mode": args.mode, "strength": args.strength, "seed": args.seed, "quality": args.quality,
              **({"iterations": args.iterations} if args.iterations else {})}
    manifest, layers = client.run("harmonize", params, {"image": image, "mask": mask}, stage)
    return result_from_layers(image, manifest, layers).image


def cmd_demo(args) -> int:
    from .demo import run_demo

    bar, update = _progress_bar("demo")
    try:
        files = run_demo(Path(args.out), args.quality, progress=update)
    finally:
        bar.close()
    print("The demo restyled the cat in a photo with a brush-stroke style, painting it with the "
          "style's own marks (no model needed).")
    for label, path in files.items():
        print(f"  {label:<10} {path}")
    return 0


def cmd_models(args) -> int:
    from . import models

    if args.action == "list":
        for w in models.REGISTRY.values():
            state = "installed" if models.is_installed(w.name) else "not installed"
            print(f"{w.name:<10} {state:<14} {w.path}  ({w.purpose})")
        return 0
    names = args.names or list(models.REGISTRY)
    failed = 0
    for name in names:
        w = models.entry(name)
        try:
            if args.action == "verify":
                models.verify(w)
                print(f"{name}: OK ({w.path})")
            else:
                bar, update = _progress_bar(f"download {name}")
                try:
                    path = models.download(w, progress=update, url=args.url)
                finally:
                    bar.close()
                print(f"{name}: installed and verified at {path}")
        except MaskstyleError as exc:
            failed += 1
            print(f"{name}: {exc}", file=sys.stderr)
    return 1 if failed else 0


def cmd_doctor(args) -> int:
    from .doctor import main as doctor_main

    return doctor_main()


def cmd_serve(args) -> int:
    import uvicorn

    from .config import config_path, load_config, write_config
    from .server.app import LOOPBACK_NAMES, Settings, create_app

    config = load_config(create=True)
    port = args.port or config.port
    if port != config.port:  # remember it, so the plug-in and the client find this backend
        data = json.loads(config_path().read_text())
        write_config({**data, "port": port})
    if args.host not in LOOPBACK_NAMES:
        print(f"maskstyle: warning: listening on {args.host}; requests are still only accepted "
              "when addressed to a loopback name", file=sys.stderr)
    app = create_app(Settings(token=config.token, port=port,
                              max_queued=int(os.environ.get("MASKSTYLE_MAX_QUEUED", "8"))))
    print(f"maskstyle backend on http://{args.host}:{port} (config: {config_path()})", flush=True)
    uvicorn.run(app, host=args.host, port=port, log_level=args.log_level)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="maskstyle", description=__doc__)
    p.add_argument("--version", action="version", version=f"maskstyle {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("stylize", help="restyle the masked part of an image")
    s.add_argument("content", help="the image to restyle")
    s.add_argument("--style", help="the style image (a painting)")
    s.add_argument("--mask", help="8-bit grayscale PNG the image's size; 255 = restyle")
    s.add_argument("--region", action="append", metavar="MASK.png=STYLE",
                   help="a mask and its style; repeat for several regions (instead of --style/--mask)")
    s.add_argument("--rest", metavar="STYLE", help="with --region: the style for what no mask covers")
    s.add_argument("--out", required=True, help="the full result image")
    add_contract_options(s, "stylize", STYLIZE_OPTIONS)
    s.add_argument("--layers-dir", help="also write the result layer(s) as GIMP receives them")
    s.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the GPU when there is one)")
    s.add_argument("--server", help="run on a running backend at this URL instead of in-process")
    s.add_argument("--token", help="the backend's token (default: from the config)")
    s.set_defaults(func=cmd_stylize)

    b = sub.add_parser("blur", help="portrait blur: a lens-like blur of everything but the subject")
    b.add_argument("image", help="the photo")
    b.add_argument("--mask", required=True, help="8-bit grayscale PNG, 255 on the subject to keep sharp")
    b.add_argument("--out", required=True, help="the blurred image")
    add_contract_options(b, "blur", ["radius"])
    b.set_defaults(func=cmd_blur)

    h = sub.add_parser("harmonize", help="make a pasted object fit the picture it was pasted into")
    h.add_argument("composite", help="the image with the pasted object")
    h.add_argument("--mask", required=True, help="8-bit grayscale PNG, 255 on the pasted object")
    h.add_argument("--out", required=True)
    add_contract_options(h, "harmonize", ["mode", "strength", "quality", "seed", "iterations"])
    h.add_argument("--layers-dir", help="also write the result layer as GIMP receives it")
    h.add_argument("--device")
    h.set_defaults(func=cmd_harmonize)

    g = sub.add_parser("segment", help="select the subject or a person, or refine a rough mask")
    g.add_argument("image")
    g.add_argument("--out", required=True, help="the mask, an 8-bit grayscale PNG")
    add_contract_options(g, "segment", ["target"])
    g.add_argument("--hint", help="rough selection (needed for refine)")
    g.add_argument("--device")
    g.set_defaults(func=cmd_segment)

    b = sub.add_parser("batch", help="run stylize, harmonize or segment over many files")
    b.add_argument("op", choices=[op for op in contract.OPERATIONS if op != "blur"])
    b.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    b.add_argument("--out", required=True, help="folder for the results (<name>.png each)")
    b.add_argument("--mask-dir", help="masks (or, for segment, hints) named like the images")
    b.add_argument("--mask", help="auto:subject or auto:person: segment each image first")
    b.add_argument("--invert", action="store_true", help="use the inverted mask (the background)")
    b.add_argument("--style", help="stylize: the style image")
    add_contract_options(b, "stylize", ["quality", "strength", "seed", "preserve_color", "encoder", "method",
                                        "iterations", "max_side"], defaults=False)
    add_contract_options(b, "harmonize", ["mode"])
    add_contract_options(b, "segment", ["target"])
    b.add_argument("--force", action="store_true", help="redo outputs that already exist")
    b.add_argument("--report", help="write a JSON report of every file's outcome here")
    b.add_argument("--server", help="run the jobs on a running backend at this URL")
    b.add_argument("--token")
    b.add_argument("--jobs", type=int, default=1, help="parallel requests (with --server)")
    b.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="spread the files over a Ray cluster's workers: without ADDRESS on a local Ray "
                        "runtime; 'auto' or ray://HOST:PORT joins a running cluster. Workers read and "
                        "write through paths (or, with fsspec, URLs) they can see "
                        "(pip install 'maskstyle[ray]'; docs/ray.md)")
    b.add_argument("--workers", type=int, help="with --ray: how many workers (default: one per CPU, "
                                               "or per GPU share with --gpus-per-worker)")
    b.add_argument("--gpus-per-worker", type=float, metavar="G",
                   help="with --ray: GPUs for each worker (1: one each; 0.5: two share one)")
    b.add_argument("--no-style-cache", action="store_true", help=argparse.SUPPRESS)
    b.set_defaults(func=cmd_batch)

    d = sub.add_parser("demo", help="restyle a bundled sample photo and print where the results are")
    d.add_argument("--out", default="maskstyle-demo", help="folder for the results")
    d.add_argument("--quality", default="fast", choices=contract.choice_values("stylize", "quality"))
    d.set_defaults(func=cmd_demo)

    v = sub.add_parser("serve", help="run the backend that the GIMP plug-in talks to")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, help="default: the port in the config file")
    v.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    v.set_defaults(func=cmd_serve)

    m = sub.add_parser("models", help="list, install or verify model weights",
                       epilog="MASKSTYLE_MODELS_REGISTRY names a JSON file that changes where "
                              "weights come from and what they must match, e.g. "
                              '{"vgg19": {"url": "https://mirror.example/vgg19.pth"}} for a mirror; '
                              "fields: url, filename, sha256, size, size_tolerance (docs/models.md).")
    m.add_argument("action", choices=["list", "install", "verify"])
    m.add_argument("names", nargs="*", help="models (default: all)")
    m.add_argument("--url", help="download from this URL instead of the official one")
    m.set_defaults(func=cmd_models)

    dr = sub.add_parser("doctor", help="check the install: versions, device, weights, config, "
                                       "GIMP plug-in, backend")
    dr.set_defaults(func=cmd_doctor)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MaskstyleError as exc:
        print(f"maskstyle: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("maskstyle: cancelled; nothing was written", file=sys.stderr)
        return 130
    except MemoryError:
        print("maskstyle: error: out of memory; try --quality fast or a smaller --max-side",
              file=sys.stderr)
        return 1
    except Exception as exc:  # a bug of ours: still one line, with a way to see more
        if os.environ.get("MASKSTYLE_DEBUG"):
            raise
        print(f"maskstyle: internal error: {type(exc).__name__}: {exc} "
              "(set MASKSTYLE_DEBUG=1 to see the details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
