"""Tests that drive a real GIMP 2.10 with Python-Fu (a package, like tests/gimp)."""
