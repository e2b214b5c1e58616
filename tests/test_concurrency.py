"""lumbarqi.concurrency: forked children answer like the function would, errors included."""
from __future__ import annotations

import os
import threading

import pytest

from lumbarqi.concurrency import ChildError, in_child, return_freed_memory
from lumbarqi.errors import LumbarqiError


def _pid_and_sum(values: list[int], scale: int = 1) -> tuple[int, int]:
    return os.getpid(), scale * sum(values)


def _fail_lumbarqi() -> None:
    raise LumbarqiError("no sagittal T1", 4)


class _UnpicklableError(Exception):
    def __init__(self, message: str, lock):
        super().__init__(message)
        self.lock = lock


def _fail_unpicklable() -> None:
    raise _UnpicklableError("bad  input\nhere", threading.Lock())


def test_child_runs_elsewhere_and_returns_the_value():
    pid, total = in_child(_pid_and_sum, [1, 2, 3], scale=10).result()
    assert total == 60 and pid != os.getpid()


def test_child_exception_is_raised_again_with_its_exit_code():
    with pytest.raises(LumbarqiError, match="no sagittal T1") as info:
        in_child(_fail_lumbarqi).result()
    assert info.value.exit_code == 4


def test_unpicklable_exception_becomes_one_line():
    with pytest.raises(ChildError, match=r"^_UnpicklableError: bad input here$"):
        in_child(_fail_unpicklable).result()


def test_no_fork_runs_inline(monkeypatch):
    monkeypatch.setenv("LUMBARQI_NO_FORK", "1")
    assert in_child(_pid_and_sum, [4]).result() == (os.getpid(), 4)
    with pytest.raises(LumbarqiError):
        in_child(_fail_lumbarqi).result()


def test_return_freed_memory_is_harmless():
    return_freed_memory()


def _hang_in_child(parent: int) -> str:
    if os.getpid() != parent:
        import time

        time.sleep(60)  # a child that never answers (as a child deadlocked after fork would)
    return "inline"


def test_silent_child_is_killed_and_the_work_done_inline(monkeypatch):
    import lumbarqi.concurrency as c

    monkeypatch.setattr(c, "CHILD_TIMEOUT_S", 0.5)
    handle = in_child(_hang_in_child, os.getpid())
    assert handle.result() == "inline"
    with pytest.raises(ChildProcessError):
        os.waitpid(handle.pid, os.WNOHANG)  # the child was reaped
