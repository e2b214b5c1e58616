"""One direction of dependency: app -> operators -> lumbarqi.

Nothing under ``lumbarqi/`` imports the application graph (``app/``, ``operators/``) or
holoscan, not even lazily inside a function, and no code patches ``sys.path`` or
``PYTHONPATH`` to find a package: the application registers its runner with the core
(lumbarqi.run.launch).
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UPPER = ("app", "operators", "holoscan", "monai.deploy")


def _imported_names(path: Path) -> list[tuple[int, str]]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append((node.lineno, node.module))
    return names


def test_lumbarqi_sources_import_nothing_above_them():
    found = [f"{p.relative_to(ROOT)}:{line}: {name}" for p in sorted((ROOT / "lumbarqi").rglob("*.py"))
             for line, name in _imported_names(p) if any(name == u or name.startswith(u + ".") for u in UPPER)]
    assert not found, "lumbarqi/ imports the application layer:\n" + "\n".join(found)


def test_no_path_patching():
    found = []
    for folder in ("lumbarqi", "app", "operators"):
        for p in sorted((ROOT / folder).rglob("*.py")):
            text = p.read_text()
            found += [f"{p.relative_to(ROOT)}: {what}" for what in ("sys.path.insert", "sys.path.append", '"PYTHONPATH"')
                      if what in text]
    assert not found, "\n".join(found)


def test_importing_every_lumbarqi_module_loads_no_graph():
    """Every module of the package, imported in a fresh interpreter: holoscan, app and operators stay out."""
    script = """
import importlib, json, pkgutil, sys
import lumbarqi
names = sorted(m.name for m in pkgutil.walk_packages(lumbarqi.__path__, "lumbarqi.") if not m.name.endswith("__main__"))
for name in names:
    importlib.import_module(name)
upper = sorted(m for m in sys.modules if m.split(".")[0] in ("holoscan", "app", "operators") or m.startswith("monai.deploy"))
print(json.dumps({"modules": len(names), "upper": upper}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["modules"] > 50
    assert report["upper"] == []


def test_without_a_registered_graph_the_run_says_so_in_one_line(monkeypatch):
    from lumbarqi.errors import EXIT_INTERNAL, LumbarqiError
    from lumbarqi.run import launch

    monkeypatch.setattr(launch, "_runner", None)
    monkeypatch.setattr(launch, "entry_points", lambda group: [])
    with pytest.raises(LumbarqiError) as err:
        launch.graph_runner()
    assert err.value.exit_code == EXIT_INTERNAL and "\n" not in str(err.value) and "pip install -e ." in str(err.value)


def test_the_application_registers_its_runner():
    from lumbarqi.run.launch import graph_runner

    runner = graph_runner()
    assert runner.__name__ == "app.runner" and callable(runner.run_app) and callable(runner.warm_up)
