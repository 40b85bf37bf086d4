"""How an org runs: engine, event log, brains, tools, sandbox, meta, git and the `orgloop` CLI."""
