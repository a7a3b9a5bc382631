"""maskstyle: restyle part of an image with masked neural style transfer."""

__version__ = "0.1.0"
