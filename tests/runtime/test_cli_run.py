"""`orgloop run` and `orgloop resume` through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from orgloop.runtime.runner import fresh_folder

from _orgs import small_org

ENV = {**os.environ, "TINYLM_BUDGET": "0.01"}
ENV.pop("ANTHROPIC_API_KEY", None)
ENV.pop("ANTHROPIC_AUTH_TOKEN", None)


def orgloop(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["orgloop", *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_run_with_no_org_runs_the_builtin_org_in_a_fresh_folder(tmp_path: Path) -> None:
    done = orgloop("run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "offline brain" in done.stdout
    assert "Traceback" not in done.stderr
    folder = tmp_path / "orgloop-tinylm"
    (run_dir,) = (folder / ".orgloop" / "runs").iterdir()
    rows = (run_dir / "results.tsv").read_text().splitlines()
    assert rows[0] == "commit\tval_bpb\tmemory_gb\tstatus\tdescription"
    statuses = [r.split("\t")[3] for r in rows[1:]]
    assert statuses.count("baseline") == 3
    reruns = statuses.count("confirm")  # the best and the baseline on three fresh seeds each
    assert len(statuses) - reruns == 3 + 10  # the built-in budget: three baselines, ten changes
    assert reruns == (6 if "keep" in statuses else 0)
    assert {"keep", "discard"} >= set(statuses) - {"baseline", "crash", "timeout", "confirm"}
    for name in ("report.md", "progress.png", "events.jsonl"):
        assert (run_dir / name).exists(), name
    assert "done (experiment budget spent)" in done.stdout
    assert "results:" in done.stdout and "best:" in done.stdout


def test_a_fresh_folder_never_reuses_an_existing_one(tmp_path: Path) -> None:
    assert fresh_folder(tmp_path / "orgloop-tinylm") == tmp_path / "orgloop-tinylm"
    (tmp_path / "orgloop-tinylm").mkdir()
    (tmp_path / "orgloop-tinylm-2").mkdir()
    assert fresh_folder(tmp_path / "orgloop-tinylm") == tmp_path / "orgloop-tinylm-3"


def test_run_json_prints_every_event_as_a_json_line(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=2, baseline_runs=1)
    done = orgloop("run", str(root), "--json", "--seed", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0]["kind"] == "run_started" and events[0]["data"]["seed"] == 3
    assert events[-1]["kind"] == "run_finished"
    assert [e["seq"] for e in events] == list(range(len(events)))


def test_resume_of_a_finished_run_says_so(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    assert orgloop("run", str(root), "--json", cwd=tmp_path).returncode == 0
    (run_dir,) = (root / ".orgloop" / "runs").iterdir()
    again = orgloop("resume", str(run_dir), cwd=tmp_path)
    assert again.returncode == 2
    assert "already finished" in again.stderr and "Traceback" not in again.stderr


def test_run_refuses_an_org_that_fails_lint(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org")
    (root / "roles" / "pi.md").write_text("---\nname: pi\nsends: {direction: nobody}\n---\nx\n")
    done = orgloop("run", str(root), cwd=tmp_path)
    assert done.returncode == 2
    assert "roles/pi.md:3: error: sends `direction` to unknown role 'nobody'" in done.stderr
    assert not (root / ".orgloop" / "runs").exists()


def test_bad_brain_flags_are_input_errors(tmp_path: Path) -> None:
    done = orgloop("run", "--brain", "replay", cwd=tmp_path)
    assert done.returncode == 2 and "cassette" in done.stderr
    assert not (tmp_path / "orgloop-tinylm").exists()  # refused before any folder is made


@pytest.mark.parametrize(("seed", "says"), [("-1", "-1 is below 0"), ("x", "'x' is not a whole")])
def test_a_bad_seed_is_an_input_error(tmp_path: Path, seed: str, says: str) -> None:
    done = orgloop("run", "--seed", seed, cwd=tmp_path)
    assert done.returncode == 2 and f"argument --seed: {says}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "orgloop-tinylm").exists()


def test_a_run_whose_baseline_never_measures_stops_with_the_reason(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=5, baseline_runs=2)
    (root / "train.py").write_text('raise SystemExit("train.py is broken on purpose")\n')
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
        check=True,
    )
    done = orgloop("run", str(root), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "every baseline run failed: e1 crash" in done.stdout
    (run_dir,) = (root / ".orgloop" / "runs").iterdir()
    rows = (run_dir / "results.tsv").read_text().splitlines()[1:]
    # both baselines ran and crashed; no candidate spent the budget on a run nothing can judge
    assert [r.split("\t")[3] for r in rows] == ["crash", "crash"]
    assert "broken on purpose" in (run_dir / "experiments" / "e1" / "log.txt").read_text()
