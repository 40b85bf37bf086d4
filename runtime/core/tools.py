"""The tools a role may call, and the per-turn toolbox that enforces them.

Every tool is a plain method with a JSON schema. The toolbox checks the role's `tools` list, keeps
paths inside the org, and buffers every effect (messages, decisions, notes, file edits) until the
engine commits the turn — so a turn that dies leaves nothing behind. Refusals go back to the brain
as error results, never as exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import orjson

from ...org import Role, tool_names
from . import rules
from .rules import matches as matches  # re-exported: desks match paths too
from .run import Run
from .text import changes, lines_of, page
from .workspace import Workspace


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    content: str
    value: Any = None
    """A structured result for in-process brains (a message id, a file's text)."""


SCHEMAS: dict[str, dict[str, Any]] = {
    "read_file": {
        "description": (
            "Read a file of the org at the incumbent commit (your own edits included). A long "
            "file comes a page of whole lines at a time, and says where to go on from."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "relative to the org"},
                "offset": {"type": "integer", "description": "first line to read (from 1)"},
                "limit": {"type": "integer", "description": "most lines to read"},
            },
            "required": ["path"],
        },
    },
    "list_files": {
        "description": "List the files of the org at the incumbent commit.",
        "input_schema": {"type": "object", "properties": {}},
    },
    "edit_file": {
        "description": (
            "Edit an editable file: replace old_string (which must occur exactly once) with "
            "new_string, or give content to replace the whole file. Edits apply to this turn's "
            "copy and travel with the experiment (or org edit) you send."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "old_string": {"type": "string"},
                "new_string": {"type": "string"},
                "content": {"type": "string"},
                "rationale": {"type": "string", "description": "why (meta edits: the evidence)"},
            },
            "required": ["path"],
        },
    },
    "send": {
        "description": "Send a message of a kind your role may send. Ends nothing by itself.",
        "input_schema": {
            "type": "object",
            "properties": {
                "kind": {"type": "string"},
                "body": {"type": "string", "description": "the message, in Markdown"},
                "to": {"type": "string", "description": "receiver, when the kind has several"},
            },
            "required": ["kind", "body"],
        },
    },
    "decide": {
        "description": "Keep or discard a finished experiment. Keep moves the run branch to it.",
        "input_schema": {
            "type": "object",
            "properties": {
                "experiment": {"type": "string", "description": "experiment id, e.g. e4"},
                "verdict": {"type": "string", "enum": ["keep", "discard"]},
                "reason": {"type": "string"},
            },
            "required": ["experiment", "verdict", "reason"],
        },
    },
    "note": {
        "description": "Append a line to your memory file; it is in your prompt from now on.",
        "input_schema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    },
}


SNAPSHOT_SLACK = 0.25
"""The snapshot moves to a kept commit once the diff to it passes this share of the files' size
(and MIN_SNAPSHOT_SLACK characters): a prompt then holds at most that much diff, and rewrites
the whole files only once per that much change."""
MIN_SNAPSHOT_SLACK = 1_000


class IncumbentFiles(Mapping[str, str]):
    """Files at one commit, path -> text, each read from git only when asked for: an editable
    glob may match many files, and a brain reads only as many as its prompt has room for."""

    def __init__(self, workspace: Workspace, commit: str, paths: list[str]) -> None:
        self._workspace, self._commit, self._paths = workspace, commit, paths
        self._read: dict[str, str] = {}

    def __getitem__(self, path: str) -> str:
        if path not in self._read:
            text = self._workspace.read(self._commit, path) if path in self._paths else None
            if text is None:
                raise KeyError(path)
            self._read[path] = text
        return self._read[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


@dataclass
class Toolbox:
    """One turn's tools. `sent`, `decisions`, `notes` and `edits` are what the turn produced;
    `base` is the incumbent when the turn started: what its prompt shows, what its reads and edits
    see (a keep committed meanwhile does not move the files under a turn that was told it need not
    read them), and the version its org edits and experiments were made against.
    It reaches the run only through `run` (see `run.Run`): reads, and `tool_call` and `llm_call`
    events."""

    run: Run
    role: Role
    turn_id: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    edits: dict[str, str] = field(default_factory=dict)
    rationale: str = ""
    calls: int = 0
    base: str = ""
    others: Callable[[], list[dict[str, Any]]] = field(default=lambda: [], repr=False)
    """What the other turns in flight have sent and not yet committed (a role's replicas): a
    change one of them proposes is not proposed again, and their experiments count against the
    budget."""
    _incumbent: Mapping[str, str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.base = self.base or self.run.state.incumbent

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(tool_names(self.role) & SCHEMAS.keys())

    def schemas(self) -> list[dict[str, Any]]:
        return [{"name": n, **SCHEMAS[n]} for n in SCHEMAS if n in self.allowed]

    def _read_incumbent(self, path: str) -> str | None:
        return self.run.workspace.read(self.base, path)

    def read_at(self, commit: str, path: str) -> str | None:
        """`path` at a commit of the run, for an in-process brain that reads what an experiment
        ran (not a tool: a model reads the incumbent)."""
        clean = self._clean(path)
        if not commit or clean is None or not self.run.workspace.exists(commit):
            return None
        return self.run.workspace.read(commit, clean)

    def _list_incumbent(self) -> list[str]:
        return self.run.workspace.list(self.base)

    def incumbent_files(self) -> Mapping[str, str]:
        """The experiment's editable files at the incumbent commit, sorted by path, for a role
        that may edit them (it has edit_file and is not the meta-agent, whose edits are the
        org's Markdown); empty for every other role. Read at the start of the turn, so they are
        what read_file would give before any edit. Listed once per turn: `snapshot_files` asks
        again, and must see the same paths."""
        if self._incumbent is not None:
            return self._incumbent
        org = self.run.org
        editable = rules.editable_for(org, self.role)
        if "edit_file" not in self.allowed or editable != org.program.experiment.editable:
            self._incumbent = {}
            return self._incumbent
        commit = self.base
        protected = rules.protected(org)
        listed = self.run.workspace.list(commit)
        paths = [p for p in listed if matches(p, editable) and not matches(p, protected)]
        self._incumbent = IncumbentFiles(self.run.workspace, commit, sorted(paths))
        return self._incumbent

    def editable_paths(self) -> list[str]:
        """The incumbent's files this role may edit, by path (`rules.editable_paths`)."""
        return rules.editable_paths(self.run.org, self.role, self._list_incumbent())

    def snapshot_files(self) -> Mapping[str, str]:
        """The incumbent_files paths at the snapshot commit: the run's base until the changes
        kept since outgrow SNAPSHOT_SLACK, then the kept commit where they did, and so on. A
        brain shows these whole and the incumbent as `changes(snapshot, incumbent)`, so a keep
        adds a few diff lines to a cached prompt instead of rewriting every file in it."""
        current = self.incumbent_files()
        if not current:
            return {}
        ws, state, paths = self.run.workspace, self.run.state, list(current)
        seen, snapshot = ws.snapshots.get(tuple(paths), (0, ""))
        snapshot = snapshot or str(state.config.get("base") or state.incumbent)
        at = IncumbentFiles(ws, snapshot, paths)
        for commit in state.kept[seen:]:
            files = IncumbentFiles(ws, commit, paths)
            limit = max(
                MIN_SNAPSHOT_SLACK, SNAPSHOT_SLACK * sum(len(files.get(p) or "") for p in paths)
            )
            if len(changes(at, files)) > limit:
                snapshot, at = commit, files
        ws.snapshots[tuple(paths)] = (len(state.kept), snapshot)
        return at

    def call(self, name: str, args: dict[str, Any]) -> ToolResult:
        self.calls += 1
        if name not in SCHEMAS:
            result = ToolResult(False, f"no tool named {name!r}; tools: {sorted(self.allowed)}")
        elif name not in self.allowed:
            result = ToolResult(False, f"role {self.role.name} may not call {name}")
        elif not isinstance(args, dict):
            result = ToolResult(False, "tool input must be a JSON object")
        else:
            try:
                result = getattr(self, "_" + name)(**args)
            except TypeError as e:
                result = ToolResult(False, f"bad arguments for {name}: {e}")
        self.run.emit(
            "tool_call",
            {
                "turn": self.turn_id,
                "role": self.role.name,
                "tool": name,
                "args": _clip(args),
                "ok": result.ok,
                "result": result.content[:500],
            },
        )
        return result

    def usage(self, data: dict[str, Any]) -> None:
        """One model call's tokens, cost and time, as an `llm_call` event of this turn."""
        self.run.emit("llm_call", {"turn": self.turn_id, "role": self.role.name, **data})

    def spent(self, budget: str, *, role: bool = False) -> None:
        """The brain found that its next call would overspend `budget` (tokens or usd): the run
        stops at the next budget check, as if the engine had seen it itself. With `role`, the
        budget is this role's own (its role file's `budget`): the role takes no more turns."""
        state = self.run.state
        spent = state.role_exhausted.get(self.role.name, []) if role else state.exhausted
        if budget in ("tokens", "usd") and budget not in spent:
            scope = {"scope": "role"} if role else {}
            self.run.emit(
                "budget_exhausted",
                {
                    "budget": budget,
                    "turn": self.turn_id,
                    "role": self.role.name,
                    "by": "brain",
                    **scope,
                },
            )

    # ---- what a brain reports about its model (one event kind each; docs/architecture.md)
    def _report(self, kind: str, data: dict[str, Any]) -> None:
        self.run.emit(kind, {"turn": self.turn_id, "role": self.role.name, **data})

    def waiting(self, data: dict[str, Any]) -> None:
        """An `api_waiting` event: the API keeps failing and the brain waits before it asks
        again (status, error, attempt, retry_in, since, waited)."""
        self._report("api_waiting", data)

    def cut(self, data: dict[str, Any]) -> None:
        """A `reply_cut` event: a reply stopped at its token limit; none of its tool calls ran
        (step, stop_reason, max_tokens, retry_with, dropped)."""
        self._report("reply_cut", data)

    def refused(self, data: dict[str, Any]) -> None:
        """A `refusal` event: the model declined to answer (step, category, explanation,
        retried)."""
        self._report("refusal", data)

    def undone(self, message: str, kind: str, reason: str) -> None:
        """A `turn_undone` event: the turn ends without the role having done its duty."""
        self._report("turn_undone", {"message": message, "kind": kind, "reason": reason})

    # ---- paths
    def _clean(self, path: Any) -> str | None:
        if not isinstance(path, str) or not path:
            return None
        p = PurePosixPath(path)
        if p.is_absolute() or ".." in p.parts or p.parts[:1] == (".git",):
            return None
        return str(p)

    # ---- tools
    def _read_file(self, path: str, offset: int = 1, limit: int | None = None) -> ToolResult:
        clean = self._clean(path)
        if clean is None:
            return ToolResult(False, f"{path!r} is outside the org: use a relative path")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 1:
            return ToolResult(False, f"offset must be a line number from 1, not {offset!r}")
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            return ToolResult(False, f"limit must be a number of lines from 1, not {limit!r}")
        text = self.edits[clean] if clean in self.edits else self._read_incumbent(clean)
        if text is None:
            return ToolResult(False, f"no file {clean} at the incumbent commit; {self._where()}")
        lines = len(lines_of(text))
        if offset > max(1, lines):
            return ToolResult(False, f"{clean} has {lines} lines; offset {offset} is past its end")
        # in-process brains get the whole file as the value; a model reads it a page at a time
        return ToolResult(True, page(text, offset, limit), text)

    def _where(self) -> str:
        """Where a role that named a missing file can look: list_files when it may call it,
        else the files it may edit."""
        if "list_files" in self.allowed:
            return "list_files shows the files"
        paths = self.editable_paths()
        shown = ", ".join(paths[:20]) + (f" and {len(paths) - 20} more" if len(paths) > 20 else "")
        return f"files you may edit: {shown}" if paths else "check the path"

    def _list_files(self) -> ToolResult:
        files = self._list_incumbent()
        return ToolResult(True, "\n".join(files), files)

    def _edit_file(
        self,
        path: str,
        old_string: str | None = None,
        new_string: str | None = None,
        content: str | None = None,
        rationale: str = "",
    ) -> ToolResult:
        clean = self._clean(path)
        if clean is None:
            return ToolResult(False, f"{path!r} is outside the org: use a relative path")
        editable = rules.editable_for(self.run.org, self.role)
        if not matches(clean, editable) or matches(clean, rules.protected(self.run.org)):
            return ToolResult(
                False,
                f"{clean} is not editable by {self.role.name}; editable: {', '.join(editable)}",
            )
        if content is None:
            current = self._read_file(clean)
            if not current.ok:
                return current
            if old_string is None or new_string is None:
                return ToolResult(False, "give old_string and new_string, or content")
            count = current.content.count(old_string)
            if count != 1:
                where = "does not occur" if count == 0 else f"occurs {count} times"
                return ToolResult(False, f"old_string {where} in {clean}; it must occur once")
            content = current.content.replace(old_string, new_string, 1)
        self.edits[clean] = content
        if rationale:
            self.rationale = rationale
        return ToolResult(True, f"edited {clean}")

    def _send(
        self, kind: str, body: str, to: str | None = None, data: dict[str, Any] | None = None
    ) -> ToolResult:
        """`data` is structured payload from in-process brains; the LLM schema does not offer it."""
        receivers = self.role.receivers(kind)
        if not receivers:
            kinds = ", ".join(s.kind for s in self.role.sends) or "none"
            return ToolResult(False, f"{self.role.name} cannot send {kind!r}; it sends: {kinds}")
        if to is None:
            to = receivers[0]
        if to not in receivers:
            return ToolResult(False, f"{kind!r} goes to {', '.join(receivers)}, not {to!r}")
        org, state = self.run.org, self.run.state
        others = self.others()
        refusal = rules.refuse_send(org, state, self.role, kind, to, self.sent, others)
        if refusal:
            return ToolResult(False, refusal)
        data = dict(data or {})
        if org.roles[to].kind == "sandbox":
            data.update(files=dict(self.edits), base=self.base)
            if not self.edits:
                return ToolResult(False, "no edits to test: use edit_file before sending")
            repeat = rules.refuse_repeat(org, state, data["base"], data["files"], self.sent, others)
            if repeat:
                return ToolResult(False, repeat)
        self.sent.append({"kind": kind, "receiver": to, "body": str(body), "data": data})
        return ToolResult(True, f"sent {kind} to {to}")

    def _decide(self, experiment: str, verdict: str, reason: str = "") -> ToolResult:
        if verdict not in ("keep", "discard"):
            return ToolResult(False, "verdict must be keep or discard")
        org, state = self.run.org, self.run.state
        refusal = rules.refuse_decision(org, state, experiment, verdict, self.decisions)
        if refusal:
            return ToolResult(False, refusal)
        self.decisions.append({"experiment": experiment, "verdict": verdict, "reason": reason})
        return ToolResult(True, f"{verdict} {experiment}")

    def _note(self, text: str) -> ToolResult:
        self.notes.append(str(text).strip())
        return ToolResult(True, "noted")


def _clip(args: Any) -> Any:
    text = orjson.dumps(args, default=str)
    return args if len(text) <= 2000 else {"clipped": text[:2000].decode(errors="replace")}
