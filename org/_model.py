"""The values an org is made of: frozen dataclasses, no behaviour beyond small lookups.

Everything here is produced by `_parse.py` and read by the rest of orgloop. Nothing in this module
touches the disk, runs a process or knows about a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One thing wrong with an org, located at `path:line`, with a one-line hint at the fix."""

    path: str
    line: int
    severity: Severity
    message: str
    hint: str = ""
    code: str = "invalid"

    def __str__(self) -> str:
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.path}:{self.line}: {self.severity}: {self.message}{hint}"


class OrgError(Exception):
    """An org that cannot be loaded. `findings` says where and why; `unreadable` means the input
    could not even be read (missing, binary, not UTF-8, too large), which `orgloop check` reports
    with exit code 2 instead of 1."""

    def __init__(self, findings: list[Finding], *, unreadable: bool = False) -> None:
        self.findings = list(findings)
        self.unreadable = unreadable
        super().__init__("\n".join(str(f) for f in self.findings) or "invalid org")


@dataclass(frozen=True)
class Metric:
    name: str
    goal: Literal["minimize", "maximize"] = "minimize"
    bound: float | None = None
    """The best value the task allows (e.g. the source's entropy rate); beating it means a leak."""

    def better(self, a: float, b: float) -> bool:
        """True when `a` is strictly better than `b`."""
        return a < b if self.goal == "minimize" else a > b

    def gain(self, new: float, old: float) -> float:
        """How much `new` improves on `old`, positive when better, in the metric's units."""
        return old - new if self.goal == "minimize" else new - old

    def beyond_bound(self, value: float) -> bool:
        if self.bound is None:
            return False
        return value < self.bound if self.goal == "minimize" else value > self.bound


@dataclass(frozen=True)
class Experiment:
    command: str
    evaluate: str | None = None
    """A protected command run after `command` whose output carries the metric; when None the
    metric is read from the experiment's own output (the autoresearch way)."""
    timeout: float = 300.0
    editable: tuple[str, ...] = ("train.py",)
    protected: tuple[str, ...] = ()
    parallel: int = 1
    baseline_runs: int = 3
    confirm: int = 3
    """Reruns of the best candidate and of the baseline, on fresh seeds, before a run ends (0:
    none): whether the win replicates."""
    network: bool = False
    env: tuple[str, ...] = ()
    """Environment variables passed through to experiments (never ones holding KEY/TOKEN/SECRET)."""
    max_output: int = 50 << 20
    """Bytes of stdout and stderr an experiment's log keeps; beyond it the middle is cut."""
    measured_by: str | None = None
    """`module.function` whose return value in the experiment's own process is the metric
    (`prepare.evaluate_bpb`): the sandbox records it, and a printed metric that differs makes
    the experiment `suspect`."""
    executor: str = "local"
    """Where experiments run: `local` (subprocesses here) or `ray` (tasks on a Ray cluster)."""
    resources: tuple[tuple[str, float], ...] = ()
    """What one experiment asks of a Ray cluster, by resource name (`CPU`, `GPU`, or a custom
    resource a node was started with); empty: one GPU on a cluster with GPUs, else one CPU."""


@dataclass(frozen=True)
class Budget:
    experiments: int | None = 20
    """Experiments the run may send (baselines aside); None (`forever`) runs until stopped."""
    wall: float | None = None
    usd: float | None = None
    tokens: int | None = None
    gpu_seconds: float | None = None
    visits: int | None = None
    """Most messages over any one edge; None leaves edges unbounded (cycles need another exit)."""


@dataclass(frozen=True)
class Meta:
    every: int = 6
    editable: tuple[str, ...] = ("roles/*.md",)
    approve: Literal["auto", "human"] = "auto"
    max_lines: int = 20
    plateau: int = 4
    trial: int = 4
    """Experiments per arm of an edit's paired trial (edited role vs the previous version)."""


@dataclass(frozen=True)
class Send:
    kind: str
    to: tuple[str, ...]
    max: int | None = None
    line: int = 1
    path: str = ""
    """Where it is declared when that is not the role's own file (ORG.md's `agents`)."""
    per_turn: int = 1
    """Most messages of this kind one turn may send (further sends are refused)."""


@dataclass(frozen=True)
class ModelSettings:
    """A role's settings for an LLM brain (its frontmatter); None leaves the brain's default."""

    effort: str | None = None
    """`output_config.effort`: low, medium, high, xhigh or max."""
    thinking: str | int | None = None
    """adaptive, disabled or between_tools; a whole number is a thinking budget in tokens."""
    max_tokens: int | None = None
    """The most output tokens one reply may take, thinking included: the ceiling a cut-off
    reply is retried up to."""


@dataclass(frozen=True)
class RoleBudget:
    """A role's own share of the run's model budget (`budget` in its frontmatter)."""

    usd: float | None = None
    tokens: int | None = None


@dataclass(frozen=True)
class PriceOverride:
    """ORG.md's `price.MODEL`: US dollars per million tokens. Cache prices left out follow
    the usual multipliers of the input price."""

    input: float
    output: float
    cache_write: float | None = None
    """Five-minute cache writes."""
    cache_write_1h: float | None = None
    cache_read: float | None = None
    line: int = 1


@dataclass(frozen=True)
class BrainSettings:
    """ORG.md's `brain`: how an LLM brain behaves when the API does."""

    outage: float = 4 * 3600.0
    """Seconds an API outage is waited out in the same process before the run pauses."""
    cache_ttl: Literal["auto", "5m", "1h"] = "auto"
    """The prompt cache's lifetime; auto picks 1h when a role's turns are far apart."""


@dataclass(frozen=True)
class Placement:
    """ORG.md's `agents.NAME`: where a role whose file stays as it is (a Claude Code agent) sits
    in the graph."""

    receives: tuple[str, ...] = ()
    sends: tuple[Send, ...] = ()
    line: int = 1


@dataclass(frozen=True)
class Program:
    """ORG.md: the frontmatter the runtime obeys and the body the roles read."""

    path: Path
    name: str
    entry: str
    metric: Metric
    experiment: Experiment
    budget: Budget
    meta: Meta
    body: str
    body_line: int
    seed: int = 0
    model: str = ""
    concurrency: int = 4
    max_steps: int = 12
    """Most tool calls in one turn of one role."""
    results: str | None = None
    """Where an autoresearch results.tsv is kept in the org folder (autoresearch layouts)."""
    agents: Mapping[str, Placement] = field(default_factory=dict)
    """`agents`: graph places for roles whose files do not declare their own."""
    brain: BrainSettings = BrainSettings()
    prices: Mapping[str, PriceOverride] = field(default_factory=dict)
    """`price`: model (or family prefix) -> what it costs, over the built-in table."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    lines: Mapping[str, int] = field(default_factory=dict)
    """Line of each frontmatter key, dotted (`experiment.command`), for findings."""

    def line_of(self, key: str) -> int:
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return 1


@dataclass(frozen=True)
class Policy:
    """A ```policy block: structured settings of a role that the offline brain acts on and the
    LLM reads as guidance."""

    data: Mapping[str, Any]
    line: int
    lines: Mapping[str, int] = field(default_factory=dict)
    """File line of each key, dotted (`space.LR`)."""

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))


@dataclass(frozen=True)
class Role:
    path: Path
    name: str
    description: str
    body: str
    body_line: int
    kind: Literal["agent", "sandbox"] = "agent"
    model: str = "inherit"
    tools: tuple[str, ...] = ()
    receives: tuple[str, ...] = ()
    sends: tuple[Send, ...] = ()
    policy: Policy = Policy({}, 1)
    settings: ModelSettings = ModelSettings()
    budget: RoleBudget = RoleBudget()
    limits: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    lines: Mapping[str, int] = field(default_factory=dict)
    tools_inherited: bool = False
    """The file has no `tools`: as in Claude Code, the role gets every tool orgloop offers."""
    disallowed: tuple[str, ...] = ()
    """`disallowedTools`: taken away from whatever `tools` gives."""
    permission_mode: str = "default"
    """`permissionMode`; `plan` makes the role read-only (no edit_file)."""
    native: bool = True
    """The file uses orgloop's own keys (receives, sends, kind, limits, template); False for a
    plain Claude Code subagent, which lint treats as Claude Code would."""
    template: bool = True
    """The body is a Jinja template (orgloop roles, or `template: true`). A plain Claude Code
    agent's body is its prompt word for word, braces and all."""
    replicas: int | Literal["auto"] = 1
    """How many turns of this role may run at once, each with its own message and context;
    `auto`: as many as keep the experiment slots fed, from the measured think and train times."""

    def receivers(self, kind: str) -> tuple[str, ...]:
        for s in self.sends:
            if s.kind == kind:
                return s.to
        return ()

    def line_of(self, key: str) -> int:
        return self.lines.get(key, 1)


@dataclass(frozen=True)
class Org:
    """A loaded org: its folder, its program and its roles by name (in file order)."""

    root: Path
    program: Program
    roles: Mapping[str, Role]
    autoresearch: bool = False
    """True when the folder is an autoresearch layout (program.md, no ORG.md)."""
    source: Path | None = None
    """The folder the files were read from when it is not `root` (a run loads its org from a
    copy of a commit, and keeps `root` the user's folder)."""

    @property
    def name(self) -> str:
        return self.program.name

    def role(self, name: str) -> Role:
        return self.roles[name]

    def sandbox_roles(self) -> list[Role]:
        return [r for r in self.roles.values() if r.kind == "sandbox"]

    def role_file(self, role: Role) -> str | None:
        """The role's file relative to the org folder; None for roles from the default library."""
        for folder in (self.source, self.root):
            if folder is not None and role.path.is_relative_to(folder):
                return role.path.relative_to(folder).as_posix()
        return None
