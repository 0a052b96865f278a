from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"
REPO_ROOT = ENGINE.parents[1]
NOT_SOURCE = {".venv", "node_modules", ".git"}
# Benchmarks that time raw SpiffWorkflow as the baseline the engine's overhead is measured against.
RAW_BASELINES = {"bench/engine_ratio.py", "bench/platform_ratio.py"}


def imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module or ""


def python_files_outside_the_engine() -> Iterator[Path]:
    for folder, subfolders, files in os.walk(REPO_ROOT):
        subfolders[:] = [name for name in subfolders if name not in NOT_SOURCE]
        if Path(folder).is_relative_to(ENGINE):
            continue
        yield from (Path(folder) / name for name in files if name.endswith(".py"))


def test_engine_never_imports_django() -> None:
    for path in ENGINE.glob("*.py"):
        names = list(imported_modules(path))
        assert not any(n.split(".")[0] in ("django", "rest_framework") for n in names), path


def test_only_the_engine_imports_spiffworkflow() -> None:
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in python_files_outside_the_engine()
        if str(path.relative_to(REPO_ROOT)) not in RAW_BASELINES
        and any(name.split(".")[0] == "SpiffWorkflow" for name in imported_modules(path))
    ]
    assert offenders == [], f"SpiffWorkflow used outside processes/engine/ (go through its API): {offenders}"
