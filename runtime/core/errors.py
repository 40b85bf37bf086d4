"""Errors the CLI reports as bad input (exit 2), importable without loading the engine."""

from __future__ import annotations


class RunError(Exception):
    """A run cannot start or resume; the message says why and what to do."""
