"""`python -m orgloop.tui RUN`: the app without the `orgloop` command (tests run it in tmux)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import run_watch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m orgloop.tui", description=__doc__)
    p.add_argument("run", type=Path, metavar="RUN", help="a run folder: .orgloop/runs/<id>/")
    p.add_argument("--no-follow", action="store_true", help="read the log once; do not tail it")
    args = p.parse_args(argv)
    return run_watch(args.run, follow=not args.no_follow)


if __name__ == "__main__":
    raise SystemExit(main())
