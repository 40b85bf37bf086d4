"""What an autoresearch folder gets from a run, as its program.md says: the branch
`autoresearch/<tag>`, and results.tsv with only autoresearch's statuses.

program.md's results.tsv has five columns (commit, val_bpb, memory_gb, status, description) and
three statuses: `keep`, `discard`, `crash`, the baseline being the first `keep`; its analysis
notebook reads nothing else. orgloop's richer record (several baseline runs for the noise,
timeouts, void and suspect results) stays in the run folder's own results.tsv and events.jsonl;
here it is told in autoresearch's words: the first baseline run that measured is the `keep`
baseline and the other runs `discard`, a result with no metric is a `crash` (0.000000, 0.0), and
a suspect or void result that has a metric is a `discard` that says why.

Pure functions of the state; the engine writes the file (atomically, where the folder says).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ...org import Org
from .confirm import confirmation
from .state import OK, ExperimentRecord, RunState

BRANCH = "autoresearch/{tag}"


def default_tag(now: float | None = None) -> str:
    """program.md's tag: today's date as it suggests it (`mar5`)."""
    t = time.localtime(now)
    return time.strftime("%b", t).lower() + str(t.tm_mday)


def free_branch(tag: str | None, exists: Callable[[str], bool], now: float | None = None) -> str:
    """The branch for a fresh run: `autoresearch/<tag>`; with no tag given, today's, with
    `-2`, `-3`, … while one by that name exists. A tag given that is taken raises ValueError:
    program.md's run starts on a branch that does not exist yet."""
    if tag is not None:
        branch = BRANCH.format(tag=tag)
        if exists(branch):
            raise ValueError(f"branch {branch} already exists: a fresh run needs a new tag")
        return branch
    base = BRANCH.format(tag=default_tag(now))
    branch, n = base, 1
    while exists(branch):
        n += 1
        branch = f"{base}-{n}"
    return branch


HEADER = ("commit", "val_bpb", "memory_gb", "status", "description")


def results_tsv(state: RunState, org: Org) -> str:
    """program.md's results.tsv for the run so far (undecided candidates not yet listed)."""
    rows = ["\t".join((HEADER[0], org.program.metric.name, *HEADER[2:]))]
    baseline_kept = False
    confirmed = confirmation(state, org.program.metric)
    for e in state.experiments.values():
        if not e.finished or e.confirm:
            continue  # reruns on fresh seeds: told in the description of the best they confirm
        if e.baseline:
            if e.metric is None or e.status != OK:
                rows.append(_row(e, "crash", f"baseline ({e.status}: {_why(e)})"))
            elif not baseline_kept:
                rows.append(_row(e, "keep", "baseline"))
                baseline_kept = True
            else:
                rows.append(_row(e, "discard", f"baseline again ({e.id}: measures the noise)"))
        elif e.metric is None:
            rows.append(_row(e, "crash", f"{e.id} {e.description} ({e.status}: {_why(e)})"))
        elif e.status != OK:
            rows.append(_row(e, "discard", f"{e.id} {e.description} ({e.status}: {_why(e)})"))
        elif e.decision:
            note = ""  # before the description, which a long change would push past the clip
            if confirmed is not None and e.id == confirmed.experiment:
                note = f" [confirmed: {confirmed.line()}]"
            rows.append(_row(e, e.decision, f"{e.id}{note} {e.description}"))
    return "\n".join(rows) + "\n"


def _why(e: ExperimentRecord) -> str:
    return str(e.info.get("reason") or "no reason given")


def _row(e: ExperimentRecord, status: str, description: str) -> str:
    crashed = status == "crash"
    commit = (e.branch_commit or e.commit or "0" * 7)[:7]
    metric = "0.000000" if crashed or e.metric is None else f"{e.metric:.6f}"
    memory = "0.0" if crashed else f"{e.memory_gb:.1f}"
    text = " ".join(description.split())[:200]  # one line; a tab would break the columns
    return "\t".join((commit, metric, memory, status, text))


__all__ = ["BRANCH", "HEADER", "default_tag", "free_branch", "results_tsv"]
