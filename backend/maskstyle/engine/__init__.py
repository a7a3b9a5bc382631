"""Pure algorithms on arrays and tensors: no HTTP, no files, no GIMP."""
