"""orgloop: run an autonomous research organization written in Markdown.

The package is split by concern: `orgloop.org` reads and lints an org, `orgloop.runtime` runs it,
`orgloop.roles` holds the default role library, `orgloop.tui` watches a run.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
