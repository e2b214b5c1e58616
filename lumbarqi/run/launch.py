"""How the core finds the application graph without importing it: the app registers its runner.

``lumbarqi run`` and the cohort workers run the holoscan graph, which lives in ``app/`` and
``operators/``, above this package (app -> operators -> lumbarqi). The app makes itself known
through the entry-point group ``lumbarqi.graph`` (``pyproject.toml``), or, when it is the
program itself (``python app``, the container's entry point), hands its runner over with
:func:`use_runner`.
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from lumbarqi.errors import EXIT_INTERNAL, LumbarqiError

if TYPE_CHECKING:
    from lumbarqi.run.state import RunOptions

#: The entry-point group under which the application registers its runner module.
GROUP = "lumbarqi.graph"


class GraphRunner(Protocol):
    """What the application provides (``app.runner``)."""

    def run_app(self, options: RunOptions, verbose: bool = False) -> int:
        """Run the graph once on ``options``; the exit status (lumbarqi.errors)."""
        ...

    def warm_up(self) -> None:
        """Import the graph (holoscan, the operators) now, so the first study does not pay for it."""
        ...


_runner: GraphRunner | None = None


def use_runner(runner: GraphRunner) -> None:
    """The application hands over its runner (it is the program: ``python app``)."""
    global _runner
    _runner = runner


def graph_runner() -> GraphRunner:
    """The registered runner; LumbarqiError (one line) when no application is installed."""
    if _runner is None:
        found = entry_points(group=GROUP)
        if not found:
            raise LumbarqiError(f"the application graph is not installed (no {GROUP!r} entry point): "
                                "`pip install -e .` in the repository registers it", EXIT_INTERNAL)
        use_runner(sorted(found, key=lambda ep: ep.name)[0].load())
    assert _runner is not None
    return _runner
