"""An experiment's output: copied by orgloop into its log, capped at `experiment.max_output`,
the beginning and the end kept around a marker, the experiment never blocked or ended for it."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from orgloop.org import load_org
from orgloop.runtime.executors._output import CappedCopy

from _sandboxed import run, spec


def copy_through_pipe(chunks: list[bytes], cap: int | None) -> tuple[bytes, CappedCopy]:
    r, w = os.pipe()
    log = io.BytesIO()
    copy = CappedCopy(r, log, cap)
    thread = threading.Thread(target=copy.run)
    thread.start()
    for chunk in chunks:
        os.write(w, chunk)
    os.close(w)
    thread.join(10)
    os.close(r)
    return log.getvalue(), copy


def test_output_under_the_cap_is_kept_whole() -> None:
    text, copy = copy_through_pipe([b"a" * 1000, b"b" * 1000], cap=4096)
    assert text == b"a" * 1000 + b"b" * 1000
    assert copy.cut == 0


def test_output_over_the_cap_keeps_its_beginning_and_end_around_a_marker() -> None:
    chunks = [b"start\n", b"x" * 100_000, b"\n---\nval_bpb: 0.9\n"]
    text, copy = copy_through_pipe(chunks, cap=8192)
    assert text.startswith(b"start\nxxx")
    assert text.endswith(b"---\nval_bpb: 0.9\n")
    assert b"bytes of output cut here" in text
    assert copy.total == sum(map(len, chunks))
    assert copy.cut == copy.total - (8192 - 2048) - 2048
    assert len(text) < 8192 + 200


def test_5_gb_of_stdout_is_cut_in_the_log_and_the_run_goes_on(repo: tuple[Path, str]) -> None:
    code = """
    import os
    block = b"y" * (1 << 20)
    for _ in range(5 * 1024):
        os.write(1, block)
    print("\\n---\\nval_bpb: 1.0", flush=True)
    """
    s = spec(repo, code, max_output=1 << 20)
    result = run(s)
    assert result.status == "ok" and result.metric == 1.0
    log = s.workdir / "log.txt"
    assert log.stat().st_size < (1 << 20) + 1000
    assert b"bytes of output cut here" in log.read_bytes()
    assert result.isolation["output_cut"] > (5 << 30) - (1 << 20) - 1
    assert result.isolation["output_cap"] == 1 << 20


def test_max_output_is_read_from_org_md(tmp_path: Path) -> None:
    from _orgs import set_frontmatter, small_org

    root = small_org(tmp_path / "org")
    set_frontmatter(root / "ORG.md", experiment={"max_output": "2M"})
    assert load_org(root).program.experiment.max_output == 2 << 20


def test_a_max_output_that_is_not_a_size_is_an_error_at_its_line(tmp_path: Path) -> None:
    from orgloop.org import OrgError

    from _orgs import set_frontmatter, small_org

    root = small_org(tmp_path / "org")
    set_frontmatter(root / "ORG.md", experiment={"max_output": "lots"})
    with pytest.raises(OrgError) as raised:
        load_org(root)
    message = str(raised.value)
    line = next(
        i
        for i, text in enumerate((root / "ORG.md").read_text().splitlines(), 1)
        if "max_output" in text
    )
    assert f"ORG.md:{line}" in message
    assert "`experiment.max_output` must be a positive size such as 50M" in message
