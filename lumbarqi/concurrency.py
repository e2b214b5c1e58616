"""Run a GIL-bound job (the report's figures) on the other core: a forked child.

Threads do not help such work (matplotlib holds the GIL while it draws), so
:func:`in_child` forks: the child inherits every argument without pickling,
runs the function, sends back its (picklable) return value through a pipe and
leaves with ``os._exit`` (no atexit handlers of the parent's libraries run
twice). Where fork is unavailable, or ``LUMBARQI_NO_FORK=1``, the function runs
inline. An exception in the child is raised again in the parent (as
:class:`ChildError` with its type name and message when it cannot be pickled).
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import sys
from collections.abc import Callable
from typing import Any

#: seconds a child may stay silent before it is given up (and the function run inline)
CHILD_TIMEOUT_S = float(os.environ.get("LUMBARQI_CHILD_TIMEOUT_S", "120"))


class ChildError(RuntimeError):
    """The child failed with an exception that could not be sent back; ``str()`` is ``'<Type>: <message>'``."""


class _Inline:
    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict):
        try:
            self._value, self._error = fn(*args, **kwargs), None
        except Exception as exc:  # re-raised by result(), as from a child
            self._value, self._error = None, exc

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value


class _Forked:
    def __init__(self, pid: int, fd: int, call: tuple):
        self.pid, self.fd, self.call = pid, fd, call

    def result(self) -> Any:
        """Wait for the child; its return value, or ChildError.

        A child silent for ``CHILD_TIMEOUT_S`` is killed and the function runs here instead:
        CPython 3.11 can deadlock in a child forked while another thread is registering
        with the interpreter (rare, but a cohort of thousands would meet it).
        """
        chunks = []
        with os.fdopen(self.fd, "rb") as pipe:
            while True:
                ready, _, _ = select.select([pipe], [], [], CHILD_TIMEOUT_S)
                if not ready:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    fn, args, kwargs = self.call
                    return _Inline(fn, args, kwargs).result()
                chunk = os.read(pipe.fileno(), 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        _, status = os.waitpid(self.pid, 0)
        data = b"".join(chunks)
        if not data:
            raise ChildError(f"the rendering process ended without an answer (exit status {os.waitstatus_to_exitcode(status)})")
        ok, value = pickle.loads(data)
        if ok:
            return value
        if isinstance(value, BaseException):
            raise value
        raise ChildError(value)


def in_child(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _Inline | _Forked:
    """Start ``fn(*args, **kwargs)`` in a forked child; ``.result()`` waits for it."""
    if not hasattr(os, "fork") or os.environ.get("LUMBARQI_NO_FORK") == "1":
        return _Inline(fn, args, kwargs)
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, answer, leave without running the parent's exit handlers
        code = 0
        try:
            os.close(read_fd)
            try:
                answer = (True, fn(*args, **kwargs))
            except BaseException as exc:  # re-raised in the parent (as ChildError when it cannot be pickled)
                answer = (False, exc)
                code = 1
            try:
                data = pickle.dumps(answer)
            except Exception:
                data = pickle.dumps((False, f"{type(answer[1]).__name__}: {' '.join(str(answer[1]).split())}"))
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(data)
        finally:
            os._exit(code)
    os.close(write_fd)
    return _Forked(pid, read_fd, (fn, args, kwargs))


def return_freed_memory() -> None:
    """Hand memory freed by the networks back to the system (glibc ``malloc_trim``; no-op elsewhere).

    The segmenters' buffers, once freed, stay in the allocator's arenas and count in the
    process's resident size; trimming them before the writers (and between a worker's
    studies) lowers the peak by about 150 MB on a clinical study.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
