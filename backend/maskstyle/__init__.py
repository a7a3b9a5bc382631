"""maskstyle: restyle part of an image with masked neural style transfer."""

from .engine.threads import prefer_passive_wait

prefer_passive_wait()  # must precede the first `import torch` (see engine/threads.py)

__version__ = "0.1.0"
