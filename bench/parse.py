"""How fast an org loads and lints: 1,000 role files and an ORG.md, as `orgloop check` reads them.

Each role file is about 40 lines, like the default roles: frontmatter with tools, receives and
sends, a Markdown body that uses the template context, and a ```policy block. The roles form a
chain (each hands `task` to the next) with budgeted back-edges (`report` to the first, `max: 3`),
so lint walks a real graph with real cycles; the last role is the sandbox.

Goal: load + lint in under 1 s on a 2-core machine, cold (templates not yet compiled, as in a
fresh `orgloop check`). Prints the best of `--repeat` cold runs, then how long lint takes again
in the same process, as the engine re-lints after each edit to the org.

Role bodies compile through their skeleton (org/_skeleton.py): bodies whose Jinja tags stand on
the same lines share one compiled template, as generated roles do. The last line is the case
where no two roles share one (each role's stage number is a Jinja expression), which pays Jinja's
compile for every file.

Run: python bench/parse.py [--roles 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from orgloop.org import lint, parse_org
from orgloop.org._render import clear_cache

GOAL_S = 1.0

ORG_MD = """\
---
name: bench
entry: r0000
metric: {name: val_bpb, goal: minimize, bound: 0.6}
experiment:
  command: python train.py
  timeout: 90s
  editable: [train.py]
  parallel: 2
budget: {experiments: 50, wall: 1h, usd: 5.00, tokens: 2000000}
meta: {every: 6, editable: ["roles/*.md"]}
---
# Objective

Make `val_bpb` as low as possible. A thousand roles pass the work down a chain.
"""

ROLE_MD = """\
---
name: {name}
description: Stage {i} of the chain; refines the plan and hands it on.
model: inherit
tools: [read_file, edit_file, list_files, send, note]
receives: [kickoff, task, report, result]
sends:
  task: {next}
  report: {{to: r0000, max: 3}}
---
You are {{{{ role.name }}}}, stage {stage} of **{{{{ org.name }}}}**.

## Your duty
Read the incumbent version of {{{{ org.experiment.editable | join(", ") }}}}, think about the one
change that would most improve `{{{{ org.metric.name }}}}`, and hand a `task` to the next stage
with a one-line rationale. When the chain stalls, send a `report` back to the first stage.

## Rules
- One idea per task; the smallest diff that tests it.
- Never touch protected files ({{{{ org.experiment.protected | join(", ") or "none" }}}}).
- The metric is computed by protected code.
{{% if org.metric.bound is not none %}}- Nothing beats {{{{ org.metric.bound }}}}: a result
  below it is a leak.{{% endif %}}

## The ledger
{{{{ ledger.summary }}}}

{{% if memory %}}## Your notes
{{{{ memory }}}}{{% endif %}}

```policy
kind: mutate
knobs_per_change: 1
space:
  LR: {{log: [0.0003, 0.03]}}
  HIDDEN: {{choice: [64, 128, 256, 384, 512]}}
  CONTEXT: {{choice: [2, 4, 6, 8, 10, 12]}}
  ACT: {{choice: [tanh, relu, gelu]}}
```
"""

SANDBOX_MD = """\
---
name: {name}
description: The sandbox at the end of the chain.
kind: sandbox
receives: [task]
sends: {{result: r0000}}
limits: {{memory: 16G, processes: 512}}
---
Runs `{{{{ org.experiment.command }}}}` for every task, {{{{ org.experiment.parallel }}}} at a time.
"""


def write_org(root: Path, roles: int, *, distinct: bool = False) -> None:
    (root / "roles").mkdir(parents=True)
    (root / "ORG.md").write_text(ORG_MD, encoding="utf-8")
    (root / "train.py").write_text("print('train')\n", encoding="utf-8")
    for i in range(roles):
        name = f"r{i:04d}"
        if i == roles - 1:
            text = SANDBOX_MD.format(name=name)
        else:
            stage = f"{{{{ {i} }}}}" if distinct else str(i)
            text = ROLE_MD.format(name=name, i=i, stage=stage, next=f"r{i + 1:04d}")
        (root / "roles" / f"{name}.md").write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class Run:
    load: float
    lint: float
    load_cpu: float
    lint_cpu: float
    findings: int

    @property
    def total(self) -> float:
        return self.load + self.lint


def measure(root: Path, *, cold: bool) -> Run:
    if cold:  # forget compiled templates, as a fresh `orgloop check` process would
        clear_cache()
    c0, t0 = time.process_time(), time.perf_counter()
    org, findings = parse_org(root)
    c1, t1 = time.process_time(), time.perf_counter()
    assert org is not None, findings
    findings += lint(org)
    c2, t2 = time.process_time(), time.perf_counter()
    return Run(t1 - t0, t2 - t1, c1 - c0, c2 - c1, len(findings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, other = Path(tmp) / "shared", Path(tmp) / "distinct"
        write_org(root, args.roles)
        write_org(other, args.roles, distinct=True)
        lines = sum(len(p.read_text().splitlines()) for p in (root / "roles").glob("*.md"))
        cold = min((measure(root, cold=True) for _ in range(args.repeat)), key=lambda r: r.total)
        warm = min((measure(root, cold=False) for _ in range(args.repeat)), key=lambda r: r.total)
        apart = min((measure(other, cold=True) for _ in range(args.repeat)), key=lambda r: r.total)
    verdict = "meets" if cold.total < GOAL_S else "MISSES"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.roles} role files, {lines:,} lines; {cold.findings} findings")
    print(f"{os.cpu_count()} CPUs, load average {load:.1f}; best of {args.repeat}, wall (cpu)")
    print(f"load (parse_org): {cold.load:.3f} s ({cold.load_cpu:.3f} s)")
    print(f"lint:             {cold.lint:.3f} s ({cold.lint_cpu:.3f} s)")
    print(f"total:            {cold.total:.3f} s  ({verdict} the goal of {GOAL_S:.1f} s)")
    print(f"lint again in the same process (templates compiled): {warm.lint:.3f} s")
    print(
        f"no two templates alike (a compile per role): {apart.total:.3f} s "
        f"(load {apart.load:.3f} s, lint {apart.lint:.3f} s)"
    )


if __name__ == "__main__":
    main()
