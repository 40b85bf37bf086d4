"""An org built around a Claude Code project's agents, and lint and run agreeing.

`orgloop init --from .claude/agents` on a project whose agents are tests/org/claude_corpus (three
dozen files of every shape), then `orgloop check` (warnings, no errors) and a real engine run in
which every agent reads each result and advises the PI. Then: whatever `check` passes, `run` starts.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from pathlib import Path

import pytest

from orgloop.org import OrgError, check, load_org
from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.cli import main
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.scaffold import ScaffoldError, init_from_agents
from orgloop.runtime.testing import InstantExecutor

from _orgs import toy_score

CORPUS = Path(__file__).parents[1] / "org" / "claude_corpus"
AUTORESEARCH = Path(__file__).parents[1] / "data" / "autoresearch_mini"


def project(tmp_path: Path, *names: str) -> Path:
    """A Claude Code project (a git repository with a commit of its own) holding corpus agents."""
    root = tmp_path / "project"
    agents = root / ".claude" / "agents"
    agents.mkdir(parents=True)
    for path in sorted(CORPUS.glob("*.md")):
        if not names or path.stem in names:
            shutil.copyfile(path, agents / path.name)
    (root / "README.md").write_text("my project\n")
    git = Git(root)
    git.init()
    git.run("add", "README.md")
    git.run("commit", "-q", "-m", "the project")
    return root


class AgentsAdvise:
    """The offline policies for orgloop's roles; every Claude Code agent tries to edit train.py
    (to show what its tools allow) and advises the PI about the result it read."""

    name = "offline+agents"

    def __init__(self) -> None:
        self.offline = OfflineBrain()

    async def turn(self, ctx: TurnContext) -> None:
        if ctx.role.policy.kind:
            await self.offline.turn(ctx)
            return
        if ctx.message.kind == "result":
            ctx.call("edit_file", path="train.py", old_string="SEED = 0", new_string="SEED = 1")
            ctx.call("send", kind="advice", body=f"{ctx.role.name}: {ctx.message.body[:40]}")


def test_init_from_agents_builds_an_org_around_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path)
    before = {p.name: p.read_bytes() for p in (root / ".claude" / "agents").iterdir()}
    assert main(["init", "--from", str(root / ".claude" / "agents")]) == 0
    out = capsys.readouterr().out
    assert "agents placed in the graph (they read each result, advise the PI): bom-agent," in out
    assert {p.name: p.read_bytes() for p in (root / ".claude" / "agents").iterdir()} == before
    git = Git(root)
    assert git.run("rev-list", "--count", "HEAD").strip() == "2"  # the project's, then init's
    tracked = git.run("ls-files").split()
    assert "README.md" in tracked and ".claude/agents/vue-expert.md" in tracked
    assert git.run("status", "--porcelain") == ""
    findings, code = check(root)
    assert code == 1 and findings
    assert not [str(f) for f in findings if f.severity == "error"]
    org = load_org(root)
    assert org.role("vue-expert").receives == ("result",)
    assert "vue-expert" in org.role("trainer").receivers("result")


def test_a_run_of_that_org_starts_and_the_agents_take_part(tmp_path: Path) -> None:
    root = project(tmp_path)
    init_from_agents(root / ".claude" / "agents")
    org_md = root / "ORG.md"
    org_md.write_text(org_md.read_text().replace("experiments: 10", "experiments: 1"))
    engine = Engine.start(root, brain=AgentsAdvise(), executor=InstantExecutor(toy_score))
    state = asyncio.run(engine.run())
    assert state.finished
    events = read_events(engine.run_dir / "events.jsonl")
    agents = [r.name for r in load_org(root).roles.values() if ".claude" in str(r.path)]
    placed = [a for a in agents if a != "orgloop-native"]  # it says where it sits itself
    turns = Counter(e.data["role"] for e in events if e.kind == "turn_started")
    assert {a: turns[a] for a in placed} == dict.fromkeys(placed, 1)  # one result each
    advice = [e.data for e in events if e.kind == "message_sent" and e.data["kind"] == "advice"]
    assert sorted(m["sender"] for m in advice) == sorted(placed)
    assert {m["receiver"] for m in advice} == {"pi"}
    edits = {
        e.data["role"]: e.data["ok"]
        for e in events
        if e.kind == "tool_call" and e.data["tool"] == "edit_file"
    }
    assert edits["fast-fixer"] and edits["general-helper"]  # Edit, and every tool
    assert not edits["planner"]  # permissionMode: plan
    assert not edits["safe-reviewer"] and not edits["pure-advisor"]  # disallowed; tools: []


def test_init_from_agents_writes_nothing_over_a_file(tmp_path: Path) -> None:
    root = project(tmp_path, "vue-expert")
    (root / "train.py").write_text("mine\n")
    (root / "ORG.md").write_text("mine too\n")
    with pytest.raises(ScaffoldError, match=r"already has ORG.md, train.py; init writes nothing"):
        init_from_agents(root / ".claude" / "agents")
    assert sorted(p.name for p in root.iterdir()) == [
        ".claude",
        ".git",
        "ORG.md",
        "README.md",
        "train.py",
    ]
    assert (root / "train.py").read_text() == "mine\n"


def test_init_from_agents_elsewhere_copies_them(tmp_path: Path) -> None:
    root = project(tmp_path, "vue-expert", "planner")
    made = init_from_agents(root, tmp_path / "org")  # the project folder works too
    assert made.agents == ("planner", "vue-expert")
    copied = sorted(p.name for p in (made.root / ".claude" / "agents").iterdir())
    assert copied == ["planner.md", "vue-expert.md"]
    assert not [f for f in check(made.root)[0] if f.severity == "error"]


def test_an_agent_named_like_a_default_role_stops_init_before_it_writes(tmp_path: Path) -> None:
    root = project(tmp_path, "refactorer")
    agent = root / ".claude" / "agents" / "refactorer.md"
    agent.write_text(agent.read_text().replace("name: refactorer", "name: reviewer"))
    with pytest.raises(ScaffoldError, match="has the name of a default role; rename it"):
        init_from_agents(root / ".claude" / "agents")
    assert not (root / "ORG.md").exists() and not (root / "roles").exists()


def test_agents_git_ignores_are_committed_all_the_same(tmp_path: Path) -> None:
    root = project(tmp_path, "vue-expert")
    (root / ".gitignore").write_text(".claude/\n")
    init_from_agents(root / ".claude" / "agents", force=True)
    assert ".claude/agents/vue-expert.md" in Git(root).run("ls-files").split()


def test_check_on_agents_alone_explains_and_init_without_a_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path, "vue-expert")
    assert main(["check", str(root)]) == 2
    assert "no ORG.md here, but 1 Claude Code agent in .claude/agents/" in capsys.readouterr().out
    assert main(["init"]) == 2
    err = capsys.readouterr().err
    assert "give a folder (orgloop init DIR), --task SCRIPT or --from AGENTS" in err


# ---- lint and run agree


def autoresearch_with_agents(tmp_path: Path, *names: str) -> Path:
    root = Path(shutil.copytree(AUTORESEARCH, tmp_path / "ar"))
    (root / ".claude" / "agents").mkdir(parents=True)
    for name in names:
        shutil.copyfile(CORPUS / f"{name}.md", root / ".claude" / "agents" / f"{name}.md")
    return root


def no_sandbox(tmp_path: Path) -> Path:
    root = autoresearch_with_agents(tmp_path, "vue-expert")
    (root / "roles").mkdir()
    shutil.copyfile(CORPUS / "refactorer.md", root / "roles" / "refactorer.md")
    return root


def clash(tmp_path: Path) -> Path:
    root = autoresearch_with_agents(tmp_path, "vue-expert")
    agent = root / ".claude" / "agents" / "vue-expert.md"
    agent.write_text(agent.read_text().replace("name: vue-expert", "name: critic"))
    return root


SHAPES = {
    "autoresearch with .claude/agents": lambda t: autoresearch_with_agents(t, "vue-expert"),
    "autoresearch, roles/ without a sandbox": no_sandbox,
    "autoresearch, an agent named like a default role": clash,
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_what_check_passes_run_starts_and_what_it_fails_run_refuses(
    tmp_path: Path, shape: str
) -> None:
    root = SHAPES[shape](tmp_path)
    findings, _ = check(root)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        with pytest.raises(OrgError) as e:
            Engine.start(root, brain=OfflineBrain(), executor=InstantExecutor(toy_score))
        assert {(f.path, f.line, f.message) for f in e.value.findings} == {
            (f.path, f.line, f.message) for f in errors
        }
        assert not (root / ".orgloop").exists()
        return
    engine = Engine.start(root, brain=OfflineBrain(), executor=InstantExecutor(lambda f: 1.0))
    engine.close()
    kinds = [e.kind for e in read_events(engine.run_dir / "events.jsonl")]
    assert kinds[0] == "run_started" and kinds.count("message_sent") == 4


def test_the_shapes_that_fail_fail_for_the_right_reason(tmp_path: Path) -> None:
    missing = [f.message for f in check(no_sandbox(tmp_path / "a"))[0] if f.severity == "error"]
    assert "no role has `kind: sandbox`, so nothing runs experiments" in missing
    clashing = [f.code for f in check(clash(tmp_path / "b"))[0] if f.severity == "error"]
    assert clashing == ["duplicate-role"]


def test_a_run_refuses_an_org_that_git_does_not_hold_whole(tmp_path: Path) -> None:
    root = project(tmp_path, "vue-expert")
    init_from_agents(root / ".claude" / "agents")
    git = Git(root)
    (root / ".gitignore").write_text((root / ".gitignore").read_text() + ".claude/\n")
    git.run("rm", "-q", "-r", "--cached", ".claude")
    git.run("commit", "-q", "-am", "the agents are mine, not the repository's")
    assert not [f for f in check(root)[0] if f.severity == "error"]  # the folder has them
    with pytest.raises(OrgError) as e:
        Engine.start(root, brain=OfflineBrain(), executor=InstantExecutor(toy_score))
    note, *rest = e.value.findings
    assert note.message.startswith("the org as a run takes it from git does not load or lint")
    assert note.hint == "files git ignores are not part of a run: commit them or stop ignoring them"
    assert [(Path(f.path), f.message) for f in rest] == [
        (root / "ORG.md", "`agents.vue-expert` names no role")
    ]
    assert list((root / ".orgloop" / "runs").iterdir()) == []  # no half-made run left
