"""The plug-in's GIMP-side steps, called directly inside a real GIMP 3 (no backend needed).

They are what the procedures do with a backend's answer, so these tests cover the GIMP
calls even while an op is missing from the backend.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from .scenes import SIZE, UNDO_LEFT_OPEN, composite_of, layer_rgba, layers_by_name, new_layers, scene

from maskstyle_wire import png


def _write_png(gimp, name, array):
    host, path = gimp.path(name)
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    host.write_bytes(png.encode(np.ascontiguousarray(array, np.uint8).tobytes(), w, h, channels))
    return path


def _b64_array(text, shape):
    return np.frombuffer(base64.b64decode(text), np.uint8).reshape(shape)


@pytest.mark.parametrize("precision", ["u8-non-linear", "u16-non-linear", "float-linear"])
def test_select_mask_combines_with_the_selection_as_asked(gimp, files, precision):
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    disk = np.where(np.hypot(x - 48, y - 48) < 30, 255, 0).astype(np.uint8)
    soft = np.clip(255 - np.hypot(x - 48, y - 48) * 6, 0, 255).astype(np.uint8)
    disk_png, soft_png = _write_png(gimp, "disk.png", disk), _write_png(gimp, "soft.png", soft)
    left = {"kind": "rect", "x": 0, "y": 0, "w": SIZE // 2, "h": SIZE}
    steps = []
    for operation in ("replace", "add", "subtract", "intersect"):
        steps += [{"helper": "select", "args": {"selection": left}},
                  {"helper": "select_mask", "args": {"mask_png": disk_png, "operation": operation}},
                  {"helper": "selection"}]
    steps += [{"helper": "select_mask", "args": {"mask_png": soft_png, "operation": "replace"}},
              {"helper": "selection"}]
    report = gimp.run({"image": {**scene(files, "Subject"), "precision": precision}, "selection": None,
                       "calls": steps}, {})

    got = [_b64_array(step, (SIZE, SIZE)) for step in report["calls"][2::3]]
    prior = np.zeros((SIZE, SIZE), np.uint8)
    prior[:, :SIZE // 2] = 255
    assert np.array_equal(got[0], disk)
    assert np.array_equal(got[1], np.maximum(prior, disk))
    assert np.array_equal(got[2], np.where(disk == 255, 0, prior))
    assert np.array_equal(got[3], np.minimum(prior, disk))
    assert np.array_equal(_b64_array(report["calls"][-1], (SIZE, SIZE)), soft)  # soft stays soft
    assert report["after"]["channels"] == 0  # the temporary channel is gone
    assert UNDO_LEFT_OPEN not in report["gimp_output"]


def test_visible_through_leaves_out_the_layers_above(gimp, files):
    rect = [14, 24, 72, 68]
    report = gimp.run({
        "image": {"width": SIZE, "height": SIZE, "layers": [
            {"name": "Top", "png": files["photo"], "x": 30, "y": 40},
            {"name": "Pasted", "png": files["pasted"], "x": 30, "y": 40},
            {"name": "Background", "png": files["background"]}]},
        "selection": None,
        "calls": [{"helper": "visible_through", "args": {"layer": "Pasted", "rect": rect}},
                  {"helper": "set_visible", "args": {"layer": "Top", "visible": False}}]}, {})
    x, y, w, h = rect
    got = _b64_array(report["calls"][0], (h, w, 4))
    without_top = composite_of(report["after"])[y:y + h, x:x + w]
    assert np.array_equal(got, without_top)
    assert not np.array_equal(got, composite_of(report["before"])[y:y + h, x:x + w])
    before, after = layers_by_name(report["before"]), layers_by_name(report["after"])
    assert after["Top"].pop("visible") is False and before["Top"].pop("visible") is True
    assert before == after  # nothing else changed in the image


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "L"])
def test_decode_png_reads_pngs_exactly(gimp, files, mode):
    rng = np.random.default_rng(5)
    array = rng.integers(0, 256, (21, 17, len(mode)), dtype=np.uint8)
    host, path = gimp.path(f"pillow-{mode}.png")
    buffer = io.BytesIO()
    Image.fromarray(array.squeeze(-1) if mode == "L" else array, mode).save(buffer, "PNG")
    host.write_bytes(buffer.getvalue())
    report = gimp.run({"image": scene(files, "Subject"), "selection": None,
                       "calls": [{"helper": "decode_png", "args": {"png": path}}]}, {})
    got = report["calls"][0]
    assert (got["width"], got["height"]) == (17, 21)
    rgba = _b64_array(got["rgba"], (21, 17, 4))
    want = {"RGBA": array, "RGB": np.dstack([array, np.full((21, 17), 255, np.uint8)]),
            "L": np.dstack([array, array, array, np.full((21, 17, 1), 255, np.uint8)])}[mode]
    assert np.array_equal(rgba, want)
    assert report["after"] == report["before"]


def test_add_layer_above_takes_the_place_of_the_layer_below(gimp, files):
    rgba = np.random.default_rng(9).integers(0, 256, (36, 40, 4), dtype=np.uint8)
    path = _write_png(gimp, "harmonized.png", rgba)
    report = gimp.run({"image": scene(files, "Top", "Pasted", "Background"), "selection": None,
                       "calls": [{"helper": "add_layer_above",
                                  "args": {"layer": "Pasted", "name": "Harmonized (Pasted)", "rgba_png": path}}]},
                      {})
    new = new_layers(report)
    assert [layer["name"] for layer in new] == ["Harmonized (Pasted)"]
    pasted = layers_by_name(report["after"])["Pasted"]
    assert new[0]["position"] == pasted["position"] - 1
    for key in ("x", "y", "width", "height", "opacity", "mode"):
        assert new[0][key] == pasted[key], key
    assert np.array_equal(layer_rgba(new[0]), rgba)
    assert UNDO_LEFT_OPEN not in report["gimp_output"]
