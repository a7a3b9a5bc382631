"""Backend jobs with GIMP's progress bar: connect (starting the backend if need be), run one
job or one per layer, and pack the pixels sent as PNG parts."""

from maskstyle_wire import client as wire
from maskstyle_wire import png
from maskstyle_wire.errors import BackendError

from gimp_io import Progress, show_message


def png_file(name, data, width, height, channels):
    """A multipart file part holding pixels as a PNG."""
    return wire.png_part(name, png.encode(data, width, height, channels, level=1))


def sentence(text):
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def connect(progress):
    client = wire.connect(on_wait=progress.starting_backend)
    progress.job(0.0, "sending")
    return client


def result_layers(client, op, params, files, progress, count=1):
    """Run one job; the first `count` layers of its result. The backend's warnings about
    the result go to GIMP's message area."""
    result = client.run_job(op, params, files, on_progress=progress.job)
    layers = result.get("layers") or []
    if len(layers) < count:
        raise BackendError("The maskstyle backend finished but sent no result."
                           if not layers else "The maskstyle backend sent too few result layers.")
    for warning in (result.get("info") or {}).get("warnings") or []:
        show_message("Maskstyle: " + sentence(warning[:1].upper() + warning[1:]))
    return layers[:count]


def run_job(op, params, files, title):
    """Run one job with a progress bar: the client and the result's first layer."""
    progress = Progress(title)
    client = connect(progress)
    return client, result_layers(client, op, params, files, progress)[0]


def run_layer_jobs(jobs, title):
    """Run jobs [(layer, op, params, files)] one after another; [(info, png)] in the same order.

    Nothing is added to the image here, so a failure leaves it as it was. When there are
    several layers, the message says which one failed."""
    progress = Progress(title, len(jobs))
    client = connect(progress)
    results = []
    for index, (layer, op, params, files) in enumerate(jobs):
        several = len(jobs) > 1
        progress.next_part(index, f"“{layer.get_name()}” ({index + 1} of {len(jobs)}): " if several else "")
        try:
            info = result_layers(client, op, params, files, progress)[0]
            results.append((info, client.fetch(info["url"])))
        except BackendError as err:
            if not several:
                raise
            raise BackendError(f"Layer “{layer.get_name()}”: {sentence(str(err))} Nothing was "
                               "changed.", err.code) from None
    return results
