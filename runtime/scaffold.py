"""`orgloop init`: make a new org folder from the built-in tinylm task and the default roles, for
a script of the user's own (`--task train.py`), or around a Claude Code project's agents
(`--from .claude/agents`); the last two combine.

The new folder holds ORG.md, the task's code (train.py, prepare.py), roles/*.md copied from the
default library, and a .gitignore for what a run leaves behind; it is a git repository with a
commit of what was written, made with orgloop's own identity (so it works where git has none
configured).

Built from agents, the org keeps them where Claude Code reads them (`.claude/agents/`, copied
there when they came from elsewhere), untouched: ORG.md's `agents` places each one in the graph.
Every agent reads each experiment's `result` (the trainer sends it to them as well as to the
critic) and may send the PI `advice`. Nothing is asked and nothing is overwritten: a file that
would be written and already exists stops `init` before it writes anything, and names the file.

For the user's own script (see `_task_org.py`) the org is made beside it by default; the script
is committed with the org and never rewritten.

It copies only the task's own files: no trained model, no bytecode caches, no run folders. It does
not lint the result (`orgloop check` does).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..org import CLAUDE_AGENTS, Finding, builtin_org_dir, default_roles_dir, parse_role
from ._task_org import TaskError, task_files
from .core.git import Git

GITIGNORE = (".orgloop/", "model.npz", "__pycache__/")
"""What a run leaves in an org folder that is not part of the org."""

_SKIP = frozenset({"model.npz", "__pycache__", ".orgloop"})

AGENT_RECEIVES, AGENT_SENDS = "result", "advice"
"""How init --from wires each agent: it reads every result and advises the PI."""
_TRAINER_SENDS = "sends: {result: critic}\n"
_PI_RECEIVES = "receives: [kickoff, review, question]\n"


class ScaffoldError(Exception):
    """The destination cannot take a new org (not empty, not a folder, or git is missing)."""


@dataclass(frozen=True)
class Scaffolded:
    """What `init` made: the org folder, the files it wrote (relative), the agents it placed."""

    root: Path
    written: tuple[str, ...]
    agents: tuple[str, ...] = ()


def init_org(dest: Path, *, force: bool = False) -> Path:
    """Scaffold the tinylm org at `dest` and commit it; return the folder's absolute path.

    Refuses a `dest` that exists and is not an empty folder, unless `force`: then the template's
    files and the default roles overwrite same-named files, .gitignore gains any missing lines,
    and only what was written is committed (other files in the folder are left untracked).
    """
    dest = _destination(dest)
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise ScaffoldError(f"{dest} is not empty; choose a new folder or pass --force")
    return _write(dest, _template_files(), "the tinylm org with the default roles").root


@dataclass(frozen=True)
class Task:
    """A script of the user's own for `init --task`: its path, and the metric when given."""

    script: Path
    metric: str | None = None
    goal: str | None = None


def init_from_agents(
    agents: Path, dest: Path | None = None, *, force: bool = False, task: Task | None = None
) -> Scaffolded:
    """Build an org around the Claude Code agents in `agents` (a `.claude/agents` folder, or a
    project folder holding one) at `dest`, by default the project itself; with `task`, for the
    user's own script rather than the built-in task."""
    folder = Path(agents).absolute()
    if (folder / CLAUDE_AGENTS).is_dir():
        folder = folder / CLAUDE_AGENTS
    if not folder.is_dir():
        raise ScaffoldError(f"{agents} is not a folder of Claude Code agents (.claude/agents)")
    files = sorted(folder.glob("*.md"))
    if not files:
        raise ScaffoldError(f"{agents} holds no agent files (*.md)")
    if dest is None:
        if folder.parts[-2:] != CLAUDE_AGENTS.parts:
            raise ScaffoldError(f"say where the org goes: orgloop init --from {agents} DIR")
        dest = folder.parent.parent
    dest = _destination(dest)
    placed = _placeable(files)
    planned = _place(_task_plan(task, dest) if task else _template_files(), placed)
    in_place = folder == (dest / CLAUDE_AGENTS).absolute()
    if not in_place:
        planned.update({str(CLAUDE_AGENTS / p.name): p.read_text(encoding="utf-8") for p in files})
    also = [str(p.relative_to(dest)) for p in files] if in_place else []
    also += _task_in_place(task, dest)
    what = f"an org around the Claude Code agents {', '.join(placed) or '(none placed)'}"
    made = _write(dest, _refuse_clashes(dest, planned, force), what, also)
    return Scaffolded(made.root, made.written, tuple(placed))


def init_from_task(task: Task, dest: Path | None = None, *, force: bool = False) -> Scaffolded:
    """Build an org for the user's own script (`task.script`), at `dest`, by default the
    script's own folder: ORG.md and the default roles, the engineer searching the script's
    constants. The script is copied when the org goes elsewhere, and is never overwritten."""
    script = Path(task.script).absolute()
    if not script.is_file():
        raise ScaffoldError(f"{task.script} is not a file: give the script that trains (train.py)")
    dest = _destination(dest if dest is not None else script.parent)
    planned = _task_plan(task, dest)
    what = f"an org for {script.name}, the default roles"
    made = _write(dest, _refuse_clashes(dest, planned, force), what, _task_in_place(task, dest))
    return made


# ---- what gets written


def _destination(dest: Path) -> Path:
    dest = Path(dest).absolute()
    if dest.exists() and not dest.is_dir():
        raise ScaffoldError(f"{dest} exists and is not a folder")
    if shutil.which("git") is None:
        raise ScaffoldError("git is not installed; orgloop keeps every org in a git repository")
    return dest


def _template_files() -> dict[str, str]:
    """Relative path -> text: the tinylm task, ORG.md and the default roles."""
    out: dict[str, str] = {}
    for src in sorted(builtin_org_dir().iterdir()):
        if src.name in _SKIP or src.suffix == ".pyc" or not src.is_file():
            continue
        out[src.name] = src.read_text(encoding="utf-8")
    for src in sorted(default_roles_dir().glob("*.md")):
        out[f"roles/{src.name}"] = src.read_text(encoding="utf-8")
    return out


def _task_plan(task: Task, dest: Path) -> dict[str, str]:
    """The files of an org for the user's script: ORG.md, the roles, and the script itself
    when the org is made somewhere else."""
    script = Path(task.script).absolute()
    try:
        source = script.read_text(encoding="utf-8")
        out = task_files(source, script.name, dest.name, task.metric, task.goal)
    except (OSError, UnicodeDecodeError) as e:
        raise ScaffoldError(f"{task.script} cannot be read: {e}") from None
    except TaskError as e:
        raise ScaffoldError(str(e)) from None
    if script.parent != dest:
        out[script.name] = source
    return out


def _task_in_place(task: Task | None, dest: Path) -> list[str]:
    """The user's script, when it is already where the org goes: committed with the org."""
    if task is None or Path(task.script).absolute().parent != dest:
        return []
    return [Path(task.script).name]


def _refuse_clashes(dest: Path, planned: dict[str, str], force: bool) -> dict[str, str]:
    clashes = sorted(rel for rel in planned if (dest / rel).exists())
    if clashes and not force:
        raise ScaffoldError(
            f"{dest} already has {', '.join(clashes)}; init writes nothing over a file "
            "(move them, choose another folder, or pass --force)"
        )
    return planned


def _place(files: dict[str, str], agents: list[str]) -> dict[str, str]:
    """`files` with ORG.md and the roles placing `agents` in the graph."""
    out = dict(files)
    if agents:
        out["ORG.md"] = _place_agents(out["ORG.md"], agents)
        listed = ", ".join(["critic", *agents])
        out["roles/trainer.md"] = _swap(
            out["roles/trainer.md"], _TRAINER_SENDS, f"sends: {{result: [{listed}]}}\n"
        )
        out["roles/pi.md"] = _swap(
            out["roles/pi.md"], _PI_RECEIVES, _PI_RECEIVES.replace("]", f", {AGENT_SENDS}]")
        )
    return out


def _swap(text: str, old: str, new: str) -> str:
    if old not in text:  # the default library changed: this module must follow it
        raise ScaffoldError(f"the default roles no longer hold {old.strip()!r}")
    return text.replace(old, new, 1)


def _place_agents(org_md: str, agents: list[str]) -> str:
    """ORG.md with an `agents` block placing each agent, and a section saying what they do."""
    head, fm, body = org_md.split("---\n", 2)
    block = ["agents:                          # the Claude Code agents in .claude/agents/"]
    block += [
        f"  {json.dumps(a)}: {{receives: [{AGENT_RECEIVES}], sends: {{{AGENT_SENDS}: pi}}}}"
        for a in agents
    ]
    names = ", ".join(f"`{a}`" for a in agents)
    section = (
        "\n# The Claude Code agents\n\n"
        f"The agents in `.claude/agents/` ({names}) are roles of this org, as their files say.\n"
        f"Each reads every experiment's `{AGENT_RECEIVES}` (the change, its metric and the end of "
        f"its log) and may send\nthe PI `{AGENT_SENDS}`, which the PI weighs when it chooses the "
        "next direction.\n"
    )
    return f"{head}---\n{fm}" + "\n".join(block) + f"\n---\n{body.rstrip()}\n{section}"


def _placeable(files: list[Path]) -> list[str]:
    """The names of the agents ORG.md should place: those that load, are agents, and do not say
    where they sit themselves. A name the default library already uses stops init."""
    library = {p.stem for p in default_roles_dir().glob("*.md")}
    out = []
    for path in files:
        findings: list[Finding] = []
        role = parse_role(path, findings)
        if role is None or role.kind != "agent" or role.receives or role.sends:
            continue  # a broken file is for `orgloop check` to explain
        if role.name in library:
            raise ScaffoldError(
                f"{path}: the agent {role.name!r} has the name of a default role; rename it "
                "(its `name`) so both can be in the org"
            )
        out.append(role.name)
    return out


def _write(
    dest: Path, files: dict[str, str], what: str, also: list[str] | None = None
) -> Scaffolded:
    """Write `files`, and commit them with `also` (files already there that the org needs) when
    git does not track those yet; the user's other files, index and changes are left alone."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text, encoding="utf-8")
    written = [*files, _write_gitignore(dest)]
    git = Git(dest)
    if git.run("rev-parse", "--show-toplevel", check=False).strip() != str(dest.resolve()):
        git.init()
    tracked = set(git.run("ls-files", "--", *(also or []), check=False).split()) if also else set()
    paths = [*written, *(p for p in also or [] if p not in tracked)]
    # -f: files the org runs must be in git even where a .gitignore covers them (.claude/ often)
    git.run("add", "-f", "--", *paths)
    git.run("commit", "-q", "--allow-empty", "-m", f"orgloop init: {what}", "--", *paths)
    return Scaffolded(dest, tuple(written))


def _write_gitignore(dest: Path) -> str:
    path = dest / ".gitignore"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    missing = [line for line in GITIGNORE if line not in lines]
    if missing or not path.exists():
        path.write_text("".join(f"{line}\n" for line in [*lines, *missing]), encoding="utf-8")
    return ".gitignore"
