"""Several styles in several regions, seams, and portrait blur: engine, command line, server."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
import requests
from PIL import Image

from conftest import make_content, make_mask, make_style
from maskstyle.cli import main
from maskstyle.engine.blur import portrait_blur
from maskstyle.engine.composite import paste
from maskstyle.engine.regions import layer_masks, union
from maskstyle.engine.seams import apply_seam, band, feather, graphcut, signed_distance
from maskstyle.engine.stylize import StylizeOptions, stylize, stylize_regions
from maskstyle.errors import Cancelled, InputError

QUICK = dict(quality="fast", iterations=2, max_side=48, encoder="builtin")


def checkers(h: int = 48, w: int = 48, cell: int = 6) -> np.ndarray:
    """White and green squares: a second style, unlike make_style()'s blue/yellow stripes."""
    yy, xx = np.mgrid[0:h, 0:w]
    on = ((xx // cell + yy // cell) % 2 == 0)[..., None]
    return np.where(on, np.array([250, 250, 250]), np.array([20, 120, 30])).astype(np.uint8)


def columns(h: int, w: int, start: int, stop: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    mask[:, start:stop] = 255
    return mask


# ---- regions in one optimisation ------------------------------------------------------

def test_disjoint_regions_match_each_region_run_alone():
    """With disjoint masks, each region of a two-region run of the neural method looks like
    that region run alone.

    What makes this true: each region's style loss sees only its own mask, and the content
    and TV losses are local. What limits it: a feature of the builtin encoder's deepest
    level sees about 56 pixels, so a region's loss reaches pixels that far beyond its mask.
    So the regions are 64 px apart and compared only 40 px or more from the other one; the
    crop is the whole image in every run (margin 2), so all runs work at the same size; and
    Adam is used, whose update of a pixel depends on that pixel's gradients only (L-BFGS
    steps along a direction built from whole-image history, which couples the regions).
    """
    h, w = 48, 192
    content = make_content(h, w)
    a, b = make_style(), checkers()
    left, right = columns(h, w, 0, 64), columns(h, w, 128, w)
    options = StylizeOptions(quality="fast", iterations=6, max_side=w, encoder="builtin",
                             margin=2.0, optimizer="adam", seed=3, method="neural")
    alone_left = stylize(content, left, a, options).image.astype(int)
    alone_right = stylize(content, right, b, options).image.astype(int)
    both = stylize_regions(content, [(left, a, "A"), (right, b, "B")], options=options)
    together = both.image.astype(int)
    far_left, far_right = np.s_[:, :40], np.s_[:, 152:]
    for far, alone in ((far_left, alone_left), (far_right, alone_right)):
        moved = np.abs(together - content)[far].mean()
        assert moved > 20  # the style did change the region ...
        assert np.abs(together - alone)[far].mean() < 3  # ... as it does when run alone
    # while the other style in the same place is far off, so the tolerance tells styles apart
    swapped = stylize(content, left, b, options).image.astype(int)
    assert np.abs(together - swapped)[far_left].mean() > 20
    assert [layer.name for layer in both.layers] == ["A", "B"]


def test_pixels_outside_every_mask_are_unchanged_without_rest(content, style):
    h, w = content.shape[:2]
    m1, m2 = make_mask(h, w), columns(h, w, 0, 12)
    result = stylize_regions(content, [(m1, style), (m2, checkers())], options=StylizeOptions(**QUICK))
    outside = (m1 == 0) & (m2 == 0)
    assert np.array_equal(result.image[outside], content[outside])
    assert np.abs(result.image[m1 == 255].astype(int) - content[m1 == 255]).mean() > 5
    assert np.abs(result.image[m2 == 255].astype(int) - content[m2 == 255]).mean() > 5


def test_rest_style_covers_what_no_mask_does(content, style, mask):
    result = stylize_regions(content, [(mask, style, "Subject")], rest_style=checkers(),
                             options=StylizeOptions(**QUICK), rest_name="Rest")
    assert [layer.name for layer in result.layers] == ["Subject", "Rest"]
    outside = mask == 0
    assert np.abs(result.image[outside].astype(int) - content[outside]).mean() > 5
    assert result.layers[1].mask.shape == content.shape[:2]  # the rest spans the image


def test_stacked_layers_rebuild_the_composite(content, style):
    """Overlapping soft masks: the layers, stacked over the original, give result.image."""
    h, w = content.shape[:2]
    m1 = make_mask(h, w)
    m2 = np.roll(m1, 14, axis=1)  # overlaps m1, softly
    result = stylize_regions(content, [(m1, style), (m2, checkers())],
                             options=StylizeOptions(seam="feather", **QUICK))
    image = content
    for layer in result.layers:
        image = paste(image, layer.rgb, layer.mask, layer.x, layer.y)
    assert np.abs(image.astype(int) - result.image).max() <= 2  # 8-bit rounding of the masks


def test_layer_masks_share_the_cover_and_reach_past_the_masks():
    m1, m2 = columns(8, 20, 0, 8), columns(8, 20, 12, 20)
    cover = union([m1, m2])
    cover[:, 8:10] = 255  # a seam went past mask 1
    a1, a2 = layer_masks(cover, [m1, m2])
    assert np.array_equal(a1[:, :10] > 0, np.ones((8, 10), bool)) and not a1[:, 10:].any()
    assert np.array_equal(a2, m2)


@pytest.mark.parametrize("method", ["masked", "surrogate"])
def test_both_neural_region_methods_and_boundary_tv_run(content, style, method):
    h, w = content.shape[:2]
    m1, m2 = columns(h, w, 0, w // 2), columns(h, w, w // 2, w)
    result = stylize_regions(content, [(m1, style), (m2, checkers())],
                             options=StylizeOptions(method="neural", regions_method=method,
                                                    boundary_tv=50.0, **QUICK))
    assert result.image.shape == content.shape and len(result.layers) == 2


def palette_distance(pixels: np.ndarray, painting: np.ndarray) -> float:
    """Mean distance from each pixel to the nearest colour the painting uses."""
    colours = np.unique(painting.reshape(-1, 3), axis=0).astype(float)
    return float(np.linalg.norm(pixels[:, None, :].astype(float) - colours, axis=2).min(axis=1).mean())


def test_patch_regions_each_take_their_own_paintings_colours():
    """Two regions side by side, each painted from its own painting: far from the border
    between them, each region is in its own painting's colours, not the other's."""
    h, w = 48, 160
    content = make_content(h, w)
    a, b = make_style(), checkers()
    left, right = columns(h, w, 0, 80), columns(h, w, 80, w)
    result = stylize_regions(content, [(left, a, "A"), (right, b, "B")],
                             options=StylizeOptions(quality="fast", seed=2)).image
    far_left, far_right = result[4:-4, 4:64].reshape(-1, 3), result[4:-4, 96:-4].reshape(-1, 3)
    assert palette_distance(far_left, a) < palette_distance(far_left, b) - 30
    assert palette_distance(far_right, b) < palette_distance(far_right, a) - 30


def test_bad_regions_are_named(content, style, mask):
    with pytest.raises(InputError, match="region 2: the mask is empty"):
        stylize_regions(content, [(mask, style), (np.zeros_like(mask), style)], options=StylizeOptions(**QUICK))
    with pytest.raises(InputError, match="region 1: .*same size"):
        stylize_regions(content, [(mask[:-2], style)], options=StylizeOptions(**QUICK))
    with pytest.raises(InputError, match="at least one region"):
        stylize_regions(content, [], options=StylizeOptions(**QUICK))
    with pytest.raises(InputError, match="seam must be one of"):
        stylize_regions(content, [(mask, style)], options=StylizeOptions(seam="zigzag", **QUICK))


# ---- seams ---------------------------------------------------------------------------

def disc(h=64, w=64, r=20):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.where(np.hypot(yy - h / 2, xx - w / 2) <= r, 255, 0).astype(np.uint8)


def radius(h=64, w=64):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.hypot(yy - h / 2, xx - w / 2)


def smooth_original(size: int = 64) -> np.ndarray:
    """A gentle colour gradient, so that any edge in a blend comes from the seam."""
    yy, xx = np.mgrid[0:size, 0:size] * 64 // size
    return np.stack([60 + xx, 80 + yy, 100 + (xx + yy) // 2], axis=2).astype(np.uint8)


def test_graphcut_mask_stays_inside_the_band():
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    stylized = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask, width = disc(), 16
    cut = graphcut(stylized, original, mask, width)
    inband = band(mask, width)
    assert np.array_equal(cut[~inband], mask[~inband])  # nothing changes outside the band
    assert cut[inband].min() < 10 and cut[inband].max() > 245  # a full ramp within the band


@pytest.mark.parametrize("size, radius, width", [(64, 20, 16), (160, 50, 48)])
def test_graphcut_is_the_feather_where_the_images_differ_evenly(size, radius, width):
    """Also for a band wider than seams.SOLVE_WIDTH, which is solved on a smaller copy."""
    original = smooth_original(size)
    stylized = original + np.uint8(70)  # the same colour step everywhere: nowhere better to cut
    mask = disc(size, size, radius)
    cut = graphcut(stylized, original, mask, width).astype(int)
    soft = feather(mask, width).astype(int)
    inband = band(mask, width)
    assert np.array_equal(cut[~inband], soft[~inband])
    assert np.abs(cut - soft).mean() < 4
    assert np.abs(cut - soft).max() <= 2 * (255 // 16) + 2  # within two opacity levels


def test_graphcut_moves_the_transition_to_where_the_images_agree():
    """The stylized image fades into the original on a ring 3 px outside the edge (and
    differs again past it): the blend is smoother than the feather's, and with a weak pull
    towards the feather the seam ends on the ring."""
    original = smooth_original()
    r = radius()
    fade = np.where(r < 23, (23 - r) / 11, (r - 23) / 3)
    stylized = np.clip(original + 80 * np.clip(fade, 0, 1)[..., None], 0, 255).astype(np.uint8)
    mask, width = disc(), 16
    soft = feather(mask, width)
    blend = lambda a: original + (a[..., None] / 255.0) * (stylized.astype(float) - original)
    steps = lambda a: sum((np.diff(blend(a), axis=k) ** 2).sum() for k in (0, 1))
    cut = graphcut(stylized, original, mask, width)
    assert steps(cut) < 0.95 * steps(soft)
    beyond = (r > 24.5) & band(mask, width)
    assert cut[beyond].mean() < 0.5 * soft[beyond].mean()
    weak = graphcut(stylized, original, mask, width, unary_weight=0.1)
    assert weak[beyond].mean() < 3 and weak[beyond].max() <= 16      # original past the ring
    assert steps(weak) < steps(cut)


def test_a_cancel_stops_graphcut_between_cuts():
    original = smooth_original()
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3:
            raise Cancelled("the job was cancelled")

    with pytest.raises(Cancelled):
        apply_seam("graphcut", original + np.uint8(70), original, disc(), 16, check=check)
    assert len(calls) == 3


def test_feather_ramps_across_the_band_only():
    mask = disc()
    soft = feather(mask, 12)
    inband = band(mask, 12)
    assert np.array_equal(soft[~inband], mask[~inband])
    sd = signed_distance(mask)
    order = np.argsort(sd[inband])
    assert np.all(np.diff(soft[inband][order].astype(int)) >= 0)  # rises from outside to inside
    assert 0 < soft[inband].mean() < 255


def test_stylize_seams_keep_pixels_beyond_the_band(content, style):
    mask = make_mask(soft=False)
    for seam in ("feather", "graphcut"):
        options = StylizeOptions(seam=seam, seam_width=8, **QUICK)
        result = stylize(content, mask, style, options)
        far = ~band(mask, 8) & (mask == 0)
        assert np.array_equal(result.image[far], content[far]), seam
        (layer,) = result.layers
        assert not np.array_equal(layer.mask, mask[layer.y:layer.y + layer.mask.shape[0],
                                                   layer.x:layer.x + layer.mask.shape[1]])
    assert np.array_equal(apply_seam("none", content, content, mask), mask)


# ---- portrait blur -------------------------------------------------------------------

def test_blur_keeps_the_subject_and_blurs_the_background():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    mask = make_mask(64, 80)  # soft edges
    out = portrait_blur(image, mask, radius=4)
    keep = mask == 255
    assert np.array_equal(out[keep], image[keep])
    back = mask == 0
    assert np.abs(out[back].astype(int) - image[back]).mean() > 30
    assert out[back].std() < image[back].std() / 2  # noise averaged away


def test_blur_has_no_halo():
    """A bright subject on a dark background: the background next to it stays dark."""
    image = np.full((80, 80, 3), 20, np.uint8)
    mask = disc(80, 80, 18)
    image[mask == 255] = 250
    out = portrait_blur(image, mask, radius=8)
    dist = -signed_distance(mask)
    near = (dist > 2) & (dist < 6)
    assert out[near].max() <= 25
    # a plain blur of the whole image would have brightened it a lot
    naive = cv2.blur(image, (17, 17))
    assert naive[near].mean() > 60


def test_blur_refuses_bad_input():
    image = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(InputError, match="empty"):
        portrait_blur(image, np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError, match="same size"):
        portrait_blur(image, np.full((9, 10), 255, np.uint8))
    with pytest.raises(InputError, match="radius"):
        portrait_blur(image, disc(10, 10, 3), radius=0)


# ---- command line --------------------------------------------------------------------

CLI_QUICK = ["--quality", "fast", "--iterations", "2", "--max-side", "48", "--encoder", "builtin"]


@pytest.fixture
def files(tmp_path):
    content = make_content()
    Image.fromarray(content).save(tmp_path / "content.png")
    Image.fromarray(make_style()).save(tmp_path / "stripes.png")
    Image.fromarray(checkers()).save(tmp_path / "checkers.png")
    mask = make_mask(soft=False)
    Image.fromarray(mask).save(tmp_path / "subject.png")
    Image.fromarray(columns(64, 80, 0, 10)).save(tmp_path / "strip.png")
    Image.fromarray(mask[:32, :40]).save(tmp_path / "small.png")
    return tmp_path


def cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_stylize_regions_writes_the_image_and_one_layer_per_region(files, capsys):
    out = files / "out.png"
    code, stdout, err = cli(capsys, "stylize", files / "content.png",
                            "--region", f"{files / 'subject.png'}={files / 'stripes.png'}",
                            "--region", f"{files / 'strip.png'}={files / 'checkers.png'}",
                            "--out", out, "--seam", "graphcut", "--layers-dir", files / "layers",
                            *CLI_QUICK)
    assert code == 0, err
    manifest = json.loads((files / "layers" / "layers.json").read_text())
    assert [l["name"] for l in manifest["layers"]] == ["Stylized (stripes)", "Stylized (checkers)"]
    result, content = np.asarray(Image.open(out)), make_content()
    covered = union([make_mask(soft=False), columns(64, 80, 0, 10)])
    far = ~band(covered, 6) & (covered == 0)  # 6 px: the automatic band for this selection
    assert np.array_equal(result[far], content[far])


@pytest.mark.parametrize("args,expected", [
    (["--region", "subject.png"], "--region takes MASK.png=STYLE"),
    (["--region", "=stripes.png"], "--region takes MASK.png=STYLE"),
    (["--region", "subject.png=stripes.png", "--style", "stripes.png"], "not both"),
    (["--style", "stripes.png", "--mask", "subject.png", "--rest", "checkers.png"], "needs at least one --region"),
    (["--style", "stripes.png"], "--mask is missing"),
    (["--region", "nope.png=stripes.png"], "region 1 mask 'nope.png' does not exist"),
    (["--region", "subject.png=stripes.png", "--region", "small.png=checkers.png"],
     "region 2 mask is 40x32 but the image is 80x64"),
    (["--region", "subject.png=missing.jpg"], "region 1 style 'missing.jpg' does not exist"),
    (["--region", "subject.png=stripes.png", "--regions-method", "surrogate"], "neural method only"),
])
def test_cli_bad_region_arguments_give_one_clear_line(files, capsys, monkeypatch, args, expected):
    monkeypatch.chdir(files)
    code, _, err = cli(capsys, "stylize", "content.png", "--out", "out.png", *args, *CLI_QUICK)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("maskstyle: error:"), err
    assert expected in lines[0], lines[0]
    assert not (files / "out.png").exists()


def test_cli_blur(files, capsys):
    out = files / "blurred.png"
    code, stdout, err = cli(capsys, "blur", files / "content.png", "--mask", files / "subject.png",
                            "--out", out, "--radius", "3")
    assert code == 0, err
    result, content, mask = np.asarray(Image.open(out)), make_content(), make_mask(soft=False)
    assert np.array_equal(result[mask == 255], content[mask == 255])
    assert not np.array_equal(result[mask == 0], content[mask == 0])
    code, _, err = cli(capsys, "blur", files / "content.png", "--mask", files / "small.png",
                       "--out", out)
    assert code == 2 and "same size" in err and len(err.strip().splitlines()) == 1


# ---- server ----------------------------------------------------------------------------

def png(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    from server_process import Backend

    b = Backend(tmp_path_factory.mktemp("cfg"))
    yield b
    b.stop()


def run_job(backend, op, params, files):
    from maskstyle.client import Client

    manifest, layers = Client(backend.url, backend.token).run(op, params, files)
    return manifest, [layer.rgba for layer in layers]


def test_server_regions_blur_and_bad_parts(backend, files, capsys):
    content, mask = make_content(), make_mask(soft=False)
    strip = columns(64, 80, 0, 10)
    quick = {"quality": "fast", "iterations": 2, "max_side": 48, "encoder": "builtin"}
    manifest, layers = run_job(backend, "stylize", {**quick, "seam": "feather", "names": ["A", "B"]},
                               {"image": png(content), "mask0": png(mask), "style0": png(make_style()),
                                "mask1": png(strip), "style1": png(checkers())})
    assert [l["name"] for l in manifest["layers"]] == ["A", "B"]
    image = content
    for meta, rgba in zip(manifest["layers"], layers):  # alpha is each layer's mask
        image = paste(image, rgba[..., :3], rgba[..., 3], meta["x"], meta["y"])
    covered = union([mask, strip])
    outside = ~band(covered, 6) & (covered == 0)
    assert np.array_equal(image[outside], content[outside])
    assert layers[1][..., 3][:, :8].min() > 0

    manifest, (layer,) = run_job(backend, "blur", {"radius": 3}, {"image": png(content), "mask": png(mask)})
    assert np.array_equal(layer[..., :3][mask == 255], content[mask == 255])

    r = requests.post(backend.url + "/v1/jobs", headers={"Authorization": f"Bearer {backend.token}"},
                      files={"request": (None, json.dumps({"op": "stylize", "params": quick})),
                             "image": ("i.png", png(content)), "mask0": ("m.png", png(mask)),
                             "style0": ("s.png", png(make_style())), "mask1": ("m.png", png(strip))},
                      timeout=30)
    assert r.status_code == 400 and "'style1' file part is missing" in r.json()["error"]["message"]

    # the command line's --server path rebuilds the same kind of result
    out = files / "served.png"
    code, _, err = cli(capsys, "stylize", files / "content.png", "--server", backend.url,
                       "--token", backend.token, "--region", f"{files / 'subject.png'}={files / 'stripes.png'}",
                       "--rest", files / "checkers.png", "--out", out, *CLI_QUICK)
    assert code == 0, err
    assert np.abs(np.asarray(Image.open(out)).astype(int) - content)[mask == 0].mean() > 5
