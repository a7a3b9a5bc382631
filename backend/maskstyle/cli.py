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
    """Write layers as GIMP receives them: RGBA crop, its mask, offsets in layers.json."""
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
            "opacity": 100.0, "mode": "normal", "file": f"{stem}.png", "mask": f"{stem}_mask.png"})
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


def cmd_stylize(args) -> int:
    from .images import read_image, read_mask
    from .engine.stylize import StylizeOptions, stylize

    _check_stylize_form(args)
    regions = [_parse_region(text) for text in args.region or []]
    out = _check_out(args.out, args.content, args.style, args.mask, args.rest,
                     *[path for region in regions for path in region])
    options = StylizeOptions(quality=args.quality, strength=args.strength,
                             preserve_color=args.preserve_color, seed=args.seed,
                             encoder=args.encoder, method=args.method, iterations=args.iterations,
                             max_side=args.max_side, device=args.device, seam=args.seam,
                             seam_width=args.seam_width, boundary_tv=args.boundary_tv,
                             regions_method=args.regions_method or StylizeOptions.regions_method)
    options.validate()
    if regions or (args.server and args.seam != "none"):
        return _stylize_regions(args, out, options, regions)
    content = read_image(args.content, "content image")
    mask = read_mask(args.mask, (content.shape[1], content.shape[0]))
    style = read_image(args.style, "style image")
    name = f"Stylized ({Path(args.style).stem})"
    if args.server:
        from .client import Client

        bar, update = _progress_bar("stylize")
        try:
            result = Client(args.server, args.token).stylize(content, mask, args.style, options,
                                                             name, progress=update)
        finally:
            bar.close()
    else:
        bar, update = _progress_bar("stylize")
        try:
            result = stylize(content, mask, style, options, progress=update, layer_name=name)
        finally:
            bar.close()
    _write_result(args, out, result, content.shape[:2])
    return 0


def _stylize_regions(args, out: Path, options, regions: list[tuple[str, str]]) -> int:
    """stylize with --region MASK=STYLE ... [--rest STYLE], or one --style/--mask with a seam
    on a server: each layer then comes with its own mask."""
    from .engine.stylize import Region, stylize_regions
    from .images import read_image, read_mask

    content = read_image(args.content, "content image")
    size = (content.shape[1], content.shape[0])
    if not regions:  # --style/--mask, sent as the one region
        regions, single = [(args.mask, args.style)], True
    else:
        single = False
    parts = []
    for i, (mask_path, style_path) in enumerate(regions, 1):
        what = "mask" if single else f"region {i} mask"
        parts.append(Region(read_mask(mask_path, size, what),
                            read_image(style_path, "style image" if single else f"region {i} style"),
                            f"Stylized ({Path(style_path).stem})"))
    rest = read_image(args.rest, "rest style") if args.rest else None
    rest_name = f"Stylized ({Path(args.rest).stem}, rest)" if args.rest else ""
    bar, update = _progress_bar("stylize")
    try:
        if args.server:
            result = _regions_on_server(args, content, parts, regions, single, rest_name, options, update)
        else:
            result = stylize_regions(content, parts, rest, options, progress=update, rest_name=rest_name)
    finally:
        bar.close()
    count = len(result.layers)
    _write_result(args, out, result, content.shape[:2], f"{count} layer{'s' if count > 1 else ''}, ")
    return 0


def _regions_on_server(args, content, parts, paths, single, rest_name, options, progress):
    """Run the stylize op on a backend; each returned layer's alpha is its mask (DESIGN.md)."""
    from .client import Client
    from .engine.composite import paste
    from .engine.stylize import Layer, StylizeResult
    from .images import encode_png

    keys = ("quality", "strength", "seed", "preserve_color", "encoder", "iterations", "max_side",
            "seam", "seam_width", "boundary_tv", "regions_method")
    params = {k: getattr(options, k) for k in keys if getattr(options, k) is not None}
    files = {"image": encode_png(content)}
    if single:
        params["method"], params["name"] = options.method, parts[0].name
        files.update(mask=encode_png(parts[0].mask), style=Path(paths[0][1]).read_bytes())
    else:
        params["names"] = [part.name for part in parts]
        for i, (part, (_, style_path)) in enumerate(zip(parts, paths)):
            files[f"mask{i}"], files[f"style{i}"] = encode_png(part.mask), Path(style_path).read_bytes()
        if args.rest:
            files["rest"], params["rest_name"] = Path(args.rest).read_bytes(), rest_name
    manifest, arrays = Client(args.server, args.token).run("stylize", params, files, progress)
    image, layers = content, []
    for meta, rgba in zip(manifest["layers"], arrays):
        layer = Layer(meta["name"], meta["x"], meta["y"], rgba[..., :3].copy(), rgba[..., 3].copy())
        image = paste(image, layer.rgb, layer.mask, layer.x, layer.y)
        layers.append(layer)
    return StylizeResult(image, layers, manifest["encoder"], manifest["device"])


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


def cmd_batch(args) -> int:
    from .batch import MaskSource, run_batch, write_report

    def segment_mask(image, target):
        from .engine.segment import segment

        return segment(image, target).mask

    masks = MaskSource(args.mask_dir, args.mask, args.invert, segment_mask)
    client = None
    if args.server:
        from .client import Client

        client = Client(args.server, args.token, timeout=600)
    process = _batch_process(args, masks, client)
    if args.op == "segment":
        using = f"hints from {args.mask_dir}" if args.mask_dir else f"target {args.target}"
    else:
        using = masks.describe()
    print(f"{args.op}: {using}; writing to {args.out}", file=sys.stderr)
    report = run_batch(args.op, args.inputs, args.out, process, force=args.force, jobs=args.jobs)
    print(report.summary())  # each failure was printed to stderr as it happened
    if args.report:
        write_report(args.report, report)
    return 1 if report.failed else 0


def _batch_process(args, masks, client):
    """The per-file function for `maskstyle batch OP`: image path -> output array."""
    from .images import read_image

    if args.op == "stylize":
        from .engine.stylize import StylizeOptions, stylize

        if not args.style:
            raise InputError("batch stylize needs --style STYLE")
        style = read_image(args.style, "style image")
        options = StylizeOptions(quality=args.quality, strength=args.strength, seed=args.seed,
                                 preserve_color=args.preserve_color, encoder=args.encoder,
                                 iterations=args.iterations, max_side=args.max_side)
        options.validate()
        cache = None if args.no_style_cache else {}  # style targets, shared by every file
        name = f"Stylized ({Path(args.style).stem})"

        def process(source, stage):
            image = read_image(source)
            mask = masks.mask_for(source, image)
            if client:
                return client.stylize(image, mask, args.style, options, name, progress=stage).image
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
            return harmonize(image, mask, mode=args.mode, strength=args.strength,
                             seed=args.seed, progress=stage).image
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
            from .images import encode_png

            files = {"image": encode_png(image)}
            if hint is not None:
                files["hint"] = encode_png(hint)
            _, layers = client.run("segment", {"target": args.target}, files, stage)
            return np.ascontiguousarray(layers[0][..., 0])
        return segment(image, args.target, hint, progress=stage).mask
    return process


def _remote_harmonize(client, image, mask, args, stage):
    from .engine.composite import blend
    from .images import encode_png

    params = {"mode": args.mode, "strength": args.strength, "seed": args.seed}
    manifest, layers = client.run("harmonize", params, {"image": encode_png(image),
                                                        "mask": encode_png(mask)}, stage)
    out = image.copy()
    for meta, rgba in zip(manifest["layers"], layers):
        x, y, w, h = meta["x"], meta["y"], meta["width"], meta["height"]
        out[y:y + h, x:x + w] = blend(image[y:y + h, x:x + w], rgba[..., :3], rgba[..., 3])
    return out


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
    s.add_argument("--seam", default="none", choices=["none", "feather", "graphcut"],
                   help="how the result meets the original at the mask's edge")
    s.add_argument("--seam-width", type=int, help="the seam's band in pixels (default: 3%% of the crop)")
    s.add_argument("--boundary-tv", type=float, default=0.0,
                   help="with --method neural: extra smoothing near region borders "
                        "(Tamir's boundary TV), e.g. 50; 0 = off")
    s.add_argument("--regions-method", choices=["masked", "surrogate"],
                   help="with --method neural: how regions share one optimisation (default: masked)")
    s.add_argument("--out", required=True, help="the full result image")
    s.add_argument("--quality", default="balanced", choices=["fast", "balanced", "best"])
    s.add_argument("--strength", type=float, default=1.0, help="0 (none) to 1 (full)")
    s.add_argument("--preserve-color", action="store_true", help="keep the original colours")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--encoder", default="auto", choices=["auto", "builtin", "vgg19"])
    s.add_argument("--method", default="patch", choices=["patch", "neural"],
                   help="patch (default): the painting's own marks, by texture synthesis (Elad and "
                        "Milanfar 2017), fast and weight-free; neural: optimise features of --encoder "
                        "against masked Gram matrices (Gatys et al. 2016)")
    s.add_argument("--layers-dir", help="also write the result layer(s) as GIMP receives them")
    s.add_argument("--iterations", type=int,
                   help="iterations per scale, or rounds per patch size for patch (overrides --quality)")
    s.add_argument("--max-side", type=int, help="working size of the crop (overrides --quality)")
    s.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the GPU when there is one)")
    s.add_argument("--server", help="run on a running backend at this URL instead of in-process")
    s.add_argument("--token", help="the backend's token (default: from the config)")
    s.set_defaults(func=cmd_stylize)

    b = sub.add_parser("blur", help="portrait blur: a lens-like blur of everything but the subject")
    b.add_argument("image", help="the photo")
    b.add_argument("--mask", required=True, help="8-bit grayscale PNG, 255 on the subject to keep sharp")
    b.add_argument("--out", required=True, help="the blurred image")
    b.add_argument("--radius", type=float, help="blur radius in pixels (default: 1.2%% of the longest side)")
    b.set_defaults(func=cmd_blur)

    h = sub.add_parser("harmonize", help="make a pasted object fit the picture it was pasted into")
    h.add_argument("composite", help="the image with the pasted object")
    h.add_argument("--mask", required=True, help="8-bit grayscale PNG, 255 on the pasted object")
    h.add_argument("--out", required=True)
    h.add_argument("--mode", default="photo", choices=["photo", "painterly"])
    h.add_argument("--strength", type=float, default=1.0, help="0 (none) to 1 (full)")
    h.add_argument("--quality", default="fast", choices=["fast", "balanced", "best"],
                   help="painterly mode only")
    h.add_argument("--seed", type=int, default=0)
    h.add_argument("--iterations", type=int, help="painterly: rounds per patch size")
    h.add_argument("--layers-dir", help="also write the result layer as GIMP receives it")
    h.add_argument("--device")
    h.set_defaults(func=cmd_harmonize)

    g = sub.add_parser("segment", help="select the subject or a person, or refine a rough mask")
    g.add_argument("image")
    g.add_argument("--out", required=True, help="the mask, an 8-bit grayscale PNG")
    g.add_argument("--target", default="subject", choices=["subject", "person", "refine"])
    g.add_argument("--hint", help="rough selection (needed for refine)")
    g.add_argument("--device")
    g.set_defaults(func=cmd_segment)

    b = sub.add_parser("batch", help="run stylize, harmonize or segment over many files")
    b.add_argument("op", choices=["stylize", "harmonize", "segment"])
    b.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    b.add_argument("--out", required=True, help="folder for the results (<name>.png each)")
    b.add_argument("--mask-dir", help="masks (or, for segment, hints) named like the images")
    b.add_argument("--mask", help="auto:subject or auto:person: segment each image first")
    b.add_argument("--invert", action="store_true", help="use the inverted mask (the background)")
    b.add_argument("--style", help="stylize: the style image")
    b.add_argument("--quality", default="balanced", choices=["fast", "balanced", "best"])
    b.add_argument("--strength", type=float, default=1.0)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--preserve-color", action="store_true")
    b.add_argument("--encoder", default="auto", choices=["auto", "builtin", "vgg19"])
    b.add_argument("--iterations", type=int)
    b.add_argument("--max-side", type=int)
    b.add_argument("--mode", default="photo", choices=["photo", "painterly"], help="harmonize")
    b.add_argument("--target", default="subject", choices=["subject", "person", "refine"],
                   help="segment")
    b.add_argument("--force", action="store_true", help="redo outputs that already exist")
    b.add_argument("--report", help="write a JSON report of every file's outcome here")
    b.add_argument("--server", help="run the jobs on a running backend at this URL")
    b.add_argument("--token")
    b.add_argument("--jobs", type=int, default=1, help="parallel requests (with --server)")
    b.add_argument("--no-style-cache", action="store_true", help=argparse.SUPPRESS)
    b.set_defaults(func=cmd_batch)

    d = sub.add_parser("demo", help="restyle a bundled sample photo and print where the results are")
    d.add_argument("--out", default="maskstyle-demo", help="folder for the results")
    d.add_argument("--quality", default="fast", choices=["fast", "balanced", "best"])
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
