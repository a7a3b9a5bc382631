"""Tests that drive a real GIMP 3 (a package, so its conftest does not shadow tests/conftest.py)."""
