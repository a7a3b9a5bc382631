"""`maskstyle ...`: the command line. Each subcommand is a small function; errors are one line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

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


def cmd_stylize(args) -> int:
    from .images import read_image, read_mask, write_image
    from .engine.stylize import StylizeOptions, stylize

    out = _check_out(args.out, args.content, args.style, args.mask)
    options = StylizeOptions(quality=args.quality, strength=args.strength,
                             preserve_color=args.preserve_color, seed=args.seed,
                             encoder=args.encoder, method=args.method, iterations=args.iterations,
                             max_side=args.max_side, device=args.device)
    options.validate()
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
    write_image(out, result.image)
    print(f"wrote {out} (encoder {result.encoder}, device {result.device})")
    if args.layers_dir:
        manifest = write_layers(args.layers_dir, result.layers, result.encoder, result.device,
                                content.shape[:2])
        print(f"wrote layers to {manifest.parent}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    bar, update = _progress_bar("demo")
    try:
        files = run_demo(Path(args.out), args.quality, progress=update)
    finally:
        bar.close()
    print("The demo restyled the cat in a photo with a brush-stroke style, using the built-in encoder.")
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
    s.add_argument("--style", required=True, help="the style image (a painting)")
    s.add_argument("--mask", required=True, help="8-bit grayscale PNG the image's size; 255 = restyle")
    s.add_argument("--out", required=True, help="the full result image")
    s.add_argument("--quality", default="balanced", choices=["fast", "balanced", "best"])
    s.add_argument("--strength", type=float, default=1.0, help="0 (none) to 1 (full)")
    s.add_argument("--preserve-color", action="store_true", help="keep the original colours")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--encoder", default="auto", choices=["auto", "builtin", "vgg19"])
    s.add_argument("--method", default="masked", choices=["masked", "composite"])
    s.add_argument("--layers-dir", help="also write the result layer(s) as GIMP receives them")
    s.add_argument("--iterations", type=int, help="iterations per scale (overrides --quality)")
    s.add_argument("--max-side", type=int, help="working size of the crop (overrides --quality)")
    s.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the GPU when there is one)")
    s.add_argument("--server", help="run on a running backend at this URL instead of in-process")
    s.add_argument("--token", help="the backend's token (default: from the config)")
    s.set_defaults(func=cmd_stylize)

    d = sub.add_parser("demo", help="restyle a bundled sample photo and print where the results are")
    d.add_argument("--out", default="maskstyle-demo", help="folder for the results")
    d.add_argument("--quality", default="fast", choices=["fast", "balanced", "best"])
    d.set_defaults(func=cmd_demo)

    v = sub.add_parser("serve", help="run the backend that the GIMP plug-in talks to")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, help="default: the port in the config file")
    v.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    v.set_defaults(func=cmd_serve)

    m = sub.add_parser("models", help="list, install or verify model weights")
    m.add_argument("action", choices=["list", "install", "verify"])
    m.add_argument("names", nargs="*", help="models (default: all)")
    m.add_argument("--url", help="download from this URL instead of the official one")
    m.set_defaults(func=cmd_models)
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
