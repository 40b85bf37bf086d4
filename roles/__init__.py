"""The default role library: one Markdown file per role, read by `orgloop.org`."""
