"""The HTTP backend: one GPU worker behind a bounded job queue, on loopback, with a token."""
