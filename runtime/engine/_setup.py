"""Where a run starts: the run folder opened and held, the commit it starts from, and the org as it
is at a commit.

`open_new` lints the org (an org that fails lint never runs), makes the run folder and branch and
takes the run lock; `reopen` takes the lock of an existing run folder and folds its log. Either
lets go of the lock if anything after taking it fails. `prepare_repo` makes the org folder a git
repository if it is not one, keeps `.orgloop/` out of git, and snapshots a dirty working tree
without touching the user's branch, index or files. `snapshot_org` loads the org from a commit (so
meta edits on the run branch are what runs), `lint_snapshot` holds it to what `orgloop check`
said of the folder, and `run_branch` names a new run's branch (`autoresearch/<tag>` in an
autoresearch folder).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ...org import Finding, Org, OrgError, lint, load_org
from ..core.autoresearch import free_branch
from ..core.errors import RunError
from ..core.events import EventLog, LogError, read_events
from ..core.git import Git
from ..core.lock import RunLock
from ..core.state import RunState, fold
from ..core.text import errno_words
from ..core.workspace import Workspace

RUNS = Path(".orgloop") / "runs"


@dataclass
class Opened:
    """A run folder opened for one engine: held by its lock, its log and state ready."""

    org: Org
    run_dir: Path
    state: RunState
    log: EventLog
    workspace: Workspace
    lock: RunLock
    base: str = ""
    """The commit a new run starts from ("" for a resumed run: the state knows its incumbent)."""
    branch: str = ""
    """A new run's branch ("" for a resumed run: the state knows it)."""


@contextlib.contextmanager
def _held(lock: RunLock) -> Iterator[None]:
    try:
        lock.acquire()
    except OSError as e:  # a read-only or vanished run folder, not another engine
        raise RunError(
            f"{lock.path.parent} cannot be locked ({errno_words(e)}): a run folder must be "
            "writable to go on; `orgloop report` reads it as it is"
        ) from None
    try:
        yield
    except BaseException:
        lock.release()
        raise


@contextlib.contextmanager
def releasing(opened: Opened) -> Iterator[None]:
    """Let go of the run if what follows fails: a run that did not open is free to open again."""
    try:
        yield
    except BaseException:
        opened.lock.release()
        raise


def open_new(
    org_path: Path, *, run_id: str | None, durable: bool, tag: str | None = None
) -> Opened:
    """A new run folder, held, on its new branch. Lint runs on the folder and again on the
    snapshot the run will use, before anything of the run exists; if opening fails, the run
    folder is removed again. `tag` names the branch (see `run_branch`)."""
    root = Path(org_path).resolve()
    folder = load_org(root)
    errors = [f for f in lint(folder) if f.severity == "error"]
    if errors:  # a graph that fails lint never runs; fail before touching anything
        raise OrgError(errors)
    repo = Git(root)
    written = folder.program.results if folder.autoresearch else None  # not part of the org
    base = prepare_repo(repo, ignore=(f"/{written}",) if written else ())
    run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    branch = run_branch(folder, repo, run_id, tag)
    run_dir = root / RUNS / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    lock = RunLock(run_dir)
    try:
        with _held(lock):
            workspace = Workspace(
                repo, int(repo.run("log", "-1", "--format=%ct", base).strip() or 0)
            )
            try:
                org = snapshot_org(workspace, base, run_dir)
            except OrgError as e:  # what git holds does not even load
                raise _from_snapshot(e.findings, run_dir / "org", root) from None
            lint_snapshot(org)
            repo.branch(branch, base)
            keep_previous_results(org, run_dir)
            log = EventLog(run_dir / "events.jsonl", durable=durable)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing of the run exists yet
        raise
    return Opened(org, run_dir, RunState(), log, workspace, lock, base, branch)


def reopen(run_dir: Path) -> Opened:
    run_dir = Path(run_dir).resolve()
    if not (run_dir / "events.jsonl").is_file():
        raise RunError(f"{run_dir}/events.jsonl: no such event log; give a run folder")
    lock = RunLock(run_dir)
    with _held(lock):  # before reading: a second engine must not replay what the first appends
        _writable(run_dir / "events.jsonl")
        try:
            events = read_events(run_dir / "events.jsonl")
        except LogError as e:
            raise RunError(str(e)) from None
        if not events or events[0].kind != "run_started":
            raise RunError(f"{run_dir}/events.jsonl does not start with run_started")
        try:
            state = fold(events)
        except (KeyError, TypeError, ValueError) as e:
            raise RunError(f"{run_dir}/events.jsonl is inconsistent ({e!r})") from None
        if state.finished:
            raise RunError(f"run {state.run_id} already finished ({state.finish_reason})")
        repo = Git(Path(state.config["org"]))
        workspace = Workspace(repo, int(state.config.get("clock", 0)))
        org = snapshot_org(workspace, state.incumbent, run_dir)
        repo.branch(state.branch, state.incumbent)  # a keep whose event was lost is undone
        log = EventLog(run_dir / "events.jsonl", next_seq=len(events))
    return Opened(org, run_dir, state, log, workspace, lock)


def _writable(log: Path) -> None:
    """Refuse a log the engine could not append to, before anything is replayed."""
    if not os.access(log, os.W_OK):
        raise RunError(
            f"{log} is read-only: orgloop appends every fact of the run to it. Make it writable "
            f"(chmod u+w {log}), then resume; `orgloop report` reads it as it is"
        )


def prepare_repo(repo: Git, ignore: tuple[str, ...] = ()) -> str:
    """The commit a run starts from: HEAD, or a snapshot commit of a dirty working tree (made
    with a private index, so the user's branch, index and files are untouched). `.orgloop/` and
    the `ignore` patterns (what the run writes into the folder) are kept out of git."""
    if not repo.is_repo() or repo.run("rev-parse", "--show-toplevel", check=False).strip() != str(
        repo.root
    ):
        repo.init()
    exclude = repo.root / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    known = (exclude.read_text() if exclude.exists() else "").splitlines()
    missing = [p for p in (".orgloop/", *ignore) if p not in known]
    if missing:
        with open(exclude, "a") as f:
            f.write("\n" + "".join(f"{p}\n" for p in missing))
    has_head = repo.run("rev-parse", "--verify", "-q", "HEAD", check=False).strip()
    if not has_head:
        return repo.commit_all("orgloop: initial commit of the org")
    if not repo.run("status", "--porcelain").strip():
        return has_head
    return repo.snapshot(has_head)


def snapshot_org(workspace: Workspace, commit: str, run_dir: Path) -> Org:
    """Load the org as it is at `commit` (roles edited by meta included), from a plain copy of
    that commit's files in the run folder, with `root` still the user's org folder."""
    dest = run_dir / "org"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    workspace.export(commit, dest)
    org = load_org(dest)
    if org.autoresearch:  # its name is its folder's, and this copy's folder is named `org`
        org = replace(org, program=replace(org.program, name=workspace.repo.root.resolve().name))
    return replace(org, root=workspace.repo.root, source=dest)


def run_branch(org: Org, repo: Git, run_id: str, tag: str | None) -> str:
    """The branch a new run advances: `autoresearch/<tag>` for an autoresearch folder (today's
    tag unless one is given), else `orgloop/<tag or run id>`. A tag that is taken is refused."""

    def exists(name: str) -> bool:
        return bool(repo.run("rev-parse", "--verify", "-q", f"refs/heads/{name}", check=False))

    try:
        if org.autoresearch:
            return free_branch(tag, exists)
        branch = f"orgloop/{tag or run_id}"
        if tag is not None and exists(branch):
            raise ValueError(f"branch {branch} already exists: a fresh run needs a new tag")
    except ValueError as e:
        raise RunError(f"{e} (--tag)") from None
    return branch


def lint_snapshot(org: Org) -> None:
    """The org as git holds it for the run lints as the folder did: a run starts only where
    `orgloop check` passes. What differs is what git leaves out (ignored or deleted files)."""
    assert org.source is not None
    errors = [f for f in lint(org) if f.severity == "error"]
    if errors:
        raise _from_snapshot(errors, org.source, org.root)


def _from_snapshot(errors: list[Finding], copy: Path, root: Path) -> OrgError:
    """The snapshot's findings, about the user's files, after one that says why they differ."""
    note = Finding(
        str(root),
        1,
        "error",
        "the org as a run takes it from git does not load or lint, though the folder does",
        "files git ignores are not part of a run: commit them or stop ignoring them",
        "snapshot",
    )
    moved = [replace(f, path=f.path.replace(str(copy), str(root), 1)) for f in errors]
    return OrgError([note, *moved])


def keep_previous_results(org: Org, run_dir: Path) -> Path | None:
    """An autoresearch results.tsv already in the folder, copied into the run folder before the
    run writes its own there (nothing the user had is lost); None when there was none."""
    if not org.autoresearch or org.program.results is None:
        return None
    path = org.root / org.program.results
    if not path.is_file():
        return None
    kept = run_dir / "results.before.tsv"
    shutil.copyfile(path, kept)
    return kept
