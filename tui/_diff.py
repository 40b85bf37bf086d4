"""A unified diff coloured the way `git diff` colours it: added lines green, removed red, hunk
headers cyan, file headers bold. One function, so every view that shows a diff shows it alike."""

from __future__ import annotations

from rich.text import Text


def diff_text(diff: str) -> Text:
    text = Text(no_wrap=False, end="")
    for i, line in enumerate(diff.rstrip("\n").split("\n")):
        if i:
            text.append("\n")
        if line.startswith(("+++", "---", "diff ", "index ")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        else:
            style = ""
        text.append(line, style=style)
    return text
