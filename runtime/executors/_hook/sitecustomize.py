"""orgloop's measurement hook, loaded by Python at start-up in an experiment's processes.

The sandbox puts this folder first on PYTHONPATH and names, in ORGLOOP_MEASURED_BY, the protected
function whose return value is the metric (`prepare.evaluate_bpb`), and in ORGLOOP_MEASURED_FD
the file descriptor (of a file the experiment cannot see) the sandbox reads afterwards. When that
module is imported, its function is wrapped so each value it returns is written there as a JSON
line; nothing else changes, and the
value goes back to the caller untouched. Then the environment's own sitecustomize, if it has
one, runs as it would have. Standard library only; with the variables unset it does nothing.

What it does not do: stop the experiment's own code from writing to the descriptor or unwrapping
the function. It catches a script that prints a metric the protected code did not return, not one
written to deceive the sandbox itself.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import importlib.machinery
import json
import os
import sys
from types import ModuleType
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))


def _record(fd: int, target: str, value: Any) -> None:
    try:
        number: float | None = float(value)
    except (TypeError, ValueError):
        number = None
    line = {"function": target, "value": number, "repr": repr(value)[:200]}
    # one write per line: the descriptor is opened for appending, so lines never interleave
    with contextlib.suppress(OSError):
        os.write(fd, (json.dumps(line) + "\n").encode())


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: Any, function: str, target: str, fd: int) -> None:
        self._inner, self._function, self._target, self._fd = inner, function, target, fd

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, … as the real loader has
        return getattr(self._inner, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        fn = getattr(module, self._function, None)
        if callable(fn):
            target, fd = self._target, self._fd

            @functools.wraps(fn)
            def measured(*args: Any, **kwargs: Any) -> Any:
                value = fn(*args, **kwargs)
                _record(fd, target, value)
                return value

            setattr(module, self._function, measured)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, module: str, function: str, target: str, fd: int) -> None:
        self._module, self._function, self._target, self._fd = module, function, target, fd

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self._module:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader, self._function, self._target, self._fd)
                return spec
        return None


def _install() -> None:
    target = os.environ.get("ORGLOOP_MEASURED_BY", "")
    fd = os.environ.get("ORGLOOP_MEASURED_FD", "")
    module, _, function = target.rpartition(".")
    if module and function and fd.isdigit():
        sys.meta_path.insert(0, _Finder(module, function, target, int(fd)))


def _chain() -> None:
    """Run the sitecustomize this one shadows, if any, and leave sys.path as it would be."""
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
    for entry in sys.path:
        candidate = os.path.join(entry or ".", "sitecustomize.py")
        if os.path.isfile(candidate):
            with open(candidate, encoding="utf-8") as f:
                code = compile(f.read(), candidate, "exec")
            exec(code, {"__name__": "sitecustomize", "__file__": candidate})
            break


_install()
_chain()
