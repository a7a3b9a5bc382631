"""The dialogs' last-used values, kept whether a run succeeds or fails, and the styles used lately.

GIMP 3.0 saves a procedure's last-used values only after a successful interactive run, so an
artist whose run failed got the dialog back with its settings reset. The plug-in keeps them in
its own small JSON file instead (`gimp-last-values.json` beside maskstyle's config.json),
written when the dialog's OK is pressed, before the job starts, and loaded into the config
before the dialog opens. Channels are kept by name (GIMP cannot keep them at all); files by
path. The same file lists the styles used lately, newest first, and the folder they came from.
"""

from __future__ import annotations

import json
import os

from maskstyle_wire import settings as wire_settings

FILE_NAME = "gimp-last-values.json"
RECENT_STYLES = 8
SKIPPED = ("procedure", "run-mode", "image", "drawables")  # the config's and the call's own, never a setting


def path():
    return wire_settings.config_dirs()[0] / FILE_NAME


def load() -> dict:
    try:
        with open(path(), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(data: dict) -> None:
    target = path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        os.replace(tmp, target)
    except OSError:
        pass  # remembering is a convenience: never a reason for a run to fail


def _is(value, type_name):
    return any(cls.__name__ == type_name for cls in type(value).__mro__)


def to_json(value):
    """A config value as JSON: files as {"file": path}, channels as {"channel": name}."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "get_path") and _is(value, "File"):
        return {"file": value.get_path()}
    if _is(value, "Channel"):
        return {"channel": value.get_name()}
    return None


def from_json(value, image):
    """The config value for a JSON value; None for a file that is gone or a channel not in image."""
    if isinstance(value, dict):
        if "file" in value:
            from gi.repository import Gio
            return Gio.File.new_for_path(value["file"]) if value["file"] and os.path.isfile(value["file"]) else None
        if "channel" in value:
            return image.get_channel_by_name(value["channel"]) if image is not None else None
        return None
    return value


def _names(config):
    return [spec.name for spec in config.list_properties() if spec.name not in SKIPPED]


def values(config) -> dict:
    return {name: to_json(config.get_property(name)) for name in _names(config)}


def remember(procedure_name: str, config) -> None:
    """Keep the config's values for procedure_name, and its style files as recent styles."""
    data = load()
    kept = values(config)
    data.setdefault("procedures", {})[procedure_name] = kept
    styles = [v["file"] for k, v in kept.items() if k.startswith(("style-file", "rest-file"))
              and isinstance(v, dict) and v.get("file")]
    for style in reversed(styles):
        add_recent_style(data, style)
    _save(data)


def add_recent_style(data: dict, style: str) -> None:
    recent = [s for s in data.get("recent_styles", []) if isinstance(s, str) and s != style]
    data["recent_styles"] = [style] + recent[:RECENT_STYLES - 1]
    data["style_folder"] = os.path.dirname(style)


def restore(procedure_name: str, config, image) -> list:
    """Load the kept values into config; the names of those set."""
    kept = (load().get("procedures") or {}).get(procedure_name) or {}
    names, restored = set(_names(config)), []
    for name, value in kept.items():
        if name not in names:
            continue
        try:
            config.set_property(name, from_json(value, image))
        except (TypeError, ValueError, OverflowError):
            continue  # a value this version no longer takes: keep the default
        restored.append(name)
    return restored


def recent_styles() -> list:
    """The styles used lately that still exist, newest first."""
    return [s for s in load().get("recent_styles", []) if isinstance(s, str) and os.path.isfile(s)]


def style_folder():
    folder = load().get("style_folder")
    return folder if isinstance(folder, str) and os.path.isdir(folder) else None
