"""A crashed experiment's reason names the failing file and line, lifted from its log."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from orgloop.org import Metric
from orgloop.runtime.core.git import Git
from orgloop.runtime.executors._traceback import failure
from orgloop.runtime.executors.local import ExperimentSpec, LocalExecutor

TREE = Path("/runs/e1/tree")


def test_a_syntax_error_names_its_file_and_line() -> None:
    log = (
        '  File "/runs/e1/tree/train.py", line 12\n    x = = 1\n        ^\n'
        "SyntaxError: invalid syntax\n"
    )
    assert failure(log, TREE) == "train.py:12: SyntaxError: invalid syntax"


def test_the_innermost_frame_in_the_experiments_own_files_is_named() -> None:
    log = textwrap.dedent(
        """\
        step 10 loss 2.3
        Traceback (most recent call last):
          File "/runs/e1/tree/train.py", line 40, in <module>
            main()
          File "/runs/e1/tree/model.py", line 7, in forward
            return np.dot(a, b)
          File "/usr/lib/python3/site-packages/numpy/core/multiarray.py", line 741, in dot
        ValueError: shapes (2,3) and (4,5) not aligned
        """
    )
    assert failure(log, TREE) == "model.py:7: ValueError: shapes (2,3) and (4,5) not aligned"


def test_of_chained_tracebacks_the_last_one_counts() -> None:
    log = textwrap.dedent(
        """\
        Traceback (most recent call last):
          File "/runs/e1/tree/train.py", line 3, in <module>
        KeyError: 'x'

        During handling of the above exception, another exception occurred:

        Traceback (most recent call last):
          File "/runs/e1/tree/train.py", line 5, in <module>
        RuntimeError: no x
        """
    )
    assert failure(log, TREE) == "train.py:5: RuntimeError: no x"


def test_output_with_no_traceback_gives_its_last_line() -> None:
    assert failure("loading\nsh: 1: trian.py: not found\n\n", TREE) == "sh: 1: trian.py: not found"
    assert failure("", TREE) == "(no output)"


def test_a_real_crash_says_where_in_the_reason(tmp_path: Path) -> None:
    root = tmp_path / "org"
    root.mkdir()
    (root / "train.py").write_text("print('hi')\n")
    git = Git(root)
    git.init()
    base = git.commit_all("base")
    spec = ExperimentSpec(
        id="e1",
        repo=root,
        base=base,
        files={"train.py": "import os\n\ndef f(:\n    pass\n"},
        command="python train.py",
        metric=Metric("val_bpb"),
        timeout=20.0,
        workdir=tmp_path / "runs" / "e1",
    )
    result = asyncio.run(LocalExecutor(1).run(spec, 0))
    assert result.status == "crash"
    assert result.reason.startswith("command exited 1: train.py:3: SyntaxError: "), result.reason
