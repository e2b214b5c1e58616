"""One network pass per input: engines with the same weights and settings share their result.

Two model folders may hold the same network (the disc segmenter uses the
sagittal network's disc channel, see ``models/discs/MODEL_CARD.md``). Their
engines run side by side in the graph; the first to reach a volume computes,
the other waits for and reuses that result. Keys are digests of the weights,
the settings that shape the output, the volume's bytes and its affine, so a
different input or model never hits. Only the last few results are kept.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

import numpy as np

T = TypeVar("T")

#: Results kept (label maps, a few MB each).
MAX_ENTRIES = 4

_lock = threading.Lock()
_results: OrderedDict[str, Future] = OrderedDict()


def input_key(engine_digest: str, volume: np.ndarray, affine: np.ndarray, *extra: object) -> str:
    """Digest of an engine, an input volume (bytes, shape, dtype) and its affine."""
    h = hashlib.blake2b(engine_digest.encode(), digest_size=20)
    v = np.ascontiguousarray(volume)
    h.update(repr((v.shape, str(v.dtype), extra)).encode())
    h.update(v.view(np.uint8).ravel().data)
    h.update(np.ascontiguousarray(affine, dtype=float).tobytes())
    return h.hexdigest()


def shared(key: str, compute: Callable[[], T]) -> T:
    """``compute()`` once per ``key``; concurrent callers of the same key wait for the first."""
    with _lock:
        slot = _results.get(key)
        owner = slot is None
        if slot is None:
            slot = Future()
            _results[key] = slot
            while len(_results) > MAX_ENTRIES:
                _results.popitem(last=False)
        else:
            _results.move_to_end(key)
    if not owner:
        return slot.result()
    try:
        slot.set_result(compute())
    except BaseException as exc:
        slot.set_exception(exc)
        with _lock:
            _results.pop(key, None)
        raise
    return slot.result()


def clear() -> None:
    """Forget every kept result (tests; a cohort worker between studies)."""
    with _lock:
        _results.clear()
