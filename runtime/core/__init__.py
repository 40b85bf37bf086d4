"""The kernel: what every other part of the runtime stands on, and nothing above it.

- `events`: the append-only event log; `state`: the run as a pure fold over its events;
- `rules`: what may be sent, kept and edited, as pure functions of the org and the state;
- `ledger`: summaries of the state for prompts, results.tsv and the closing line;
- `git`, `workspace`: the org's repository, read and committed at revisions;
- `tools`: the tools a role may call, and the per-turn toolbox that enforces them;
- `run`: the contract a desk works against; `lock`: one engine per run; `text`, `errors`.

It imports `orgloop.org` and nothing else of orgloop. Importing this package loads none of its
modules, so a reader of the log (the TUI) pays only for what it uses.
"""
