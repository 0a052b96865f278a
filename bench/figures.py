# bench/run: not a benchmark
"""The summary table of bench/run: every benchmark records its headline figures here, and bench/run
prints them together at the end, each with its target and verdict.

A script calls `record(...)` next to the line where it prints the figure; when bench/run sets
BENCH_FIGURES_FILE, the figure is appended to that file as one JSON line (a script run by hand only
prints its own table). `python bench/figures.py FILE` prints the summary.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def record(
    figure: str,
    value: str,
    target: str,
    passed: bool | None,
    *,
    ratio: str = "",
    database: str = "",
    note: str = "",
) -> None:
    """Remember one headline figure for bench/run's summary. `passed` None: no target applies."""
    path = os.environ.get("BENCH_FIGURES_FILE")
    if not path:
        return
    row = {
        "figure": figure,
        "database": database,
        "value": value,
        "ratio": ratio,
        "target": target,
        "verdict": "" if passed is None else ("PASS" if passed else "MISS"),
        "note": note,
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")


def summary(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        return "No figures were recorded."
    columns = ["figure", "database", "value", "ratio", "target", "verdict"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = [
        "  ".join(c.ljust(widths[c]) for c in columns),
        "  ".join("-" * widths[c] for c in columns),
    ]
    for row in rows:
        lines.append("  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip())
        if row["note"]:
            lines.append(f"    {row['note']}")
    missed = sum(r["verdict"] == "MISS" for r in rows)
    lines.append(f"\n{len(rows)} figures, {missed} missing their target.")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1])))
