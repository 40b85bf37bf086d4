"""The reliability suite: what the user had is never lost, whatever happens at the edges of a run.

Two engines on one run, kill -9 of the holder, a reader that goes away, damaged or foreign logs,
read-only files and a full disk — each through the real console script or the real engine, each
with a clear message. The orgs come from tests/runtime/_orgs.py (the built-in org, made small).
"""
