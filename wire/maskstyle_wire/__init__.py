"""The maskstyle wire: what the GIMP plug-in, the installer and the backend all agree on.

Standard library only, so GIMP's own Python (3 for GIMP 3) and the installer can import it
before anything is installed:
- `contract`: the operations, their parameters (type, choices, range, default, label), the
  file parts of a request, the result manifest and the one result rule;
- `client`: the one HTTP client (submit, progress, cancel, fetch) and its error types;
- `settings`: where the config and the data live, the config schema, GIMP's profile folders;
- `png`: PNG packing for 8-bit pixels;
- `geometry`: Rect (x, y, width, height), the one rectangle convention of the plug-in, the
  result manifest and the engine;
- `pixels`: byte-level placing of result layers, for a front-end;
- `bridge`: the job runner that GIMP 2.10's Python 2.7 front-end starts as a subprocess.
"""

from .contract import CONTRACT_VERSION  # noqa: F401
