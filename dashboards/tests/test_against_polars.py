"""Every measure, recomputed independently: the projection rows are exported to CSV, read with polars
and aggregated there; the dashboards' numbers (SQL on PostgreSQL, the Python fallback on SQLite) must
agree."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import polars as pl
import pytest

from dashboards.selectors.bottlenecks import bottlenecks_rank, variants_top
from dashboards.selectors.compliance import deadline_compliance
from dashboards.selectors.cycle_time import process_overview
from dashboards.selectors.steps import rework_loops, step_times
from dashboards.tests.history import Step, case, filters_for
from organisation.tests.factories import SchoolUnitFactory
from processes.models import ProcessInstance
from processes.tests.factories import published_support_version
from tasks.models import UserTask

STEPS = [
    ("apply", "guardian"),
    ("assess", "teacher"),
    ("decide", "principal"),
    ("investigate", "student_health"),
]
TZ = "Europe/Stockholm"


def _seed(version, units, rng: random.Random) -> None:
    for _ in range(90):
        started = rng.uniform(-20, 100)
        clock, steps = started, []
        for index in range(rng.randint(1, 6)):
            element_id, lane = STEPS[index % len(STEPS)] if rng.random() < 0.8 else rng.choice(STEPS)
            ready = clock + rng.uniform(0, 0.5)
            wait = round(rng.lognormvariate(0.5, 0.9), 3)
            claimed = ready + wait if rng.random() < 0.7 else None
            completed = (claimed if claimed is not None else ready + wait) + rng.uniform(0.01, 1)
            due = ready + rng.choice([1, 3, 5]) if rng.random() < 0.7 else None
            steps.append(Step(element_id, lane, ready, claimed, completed, due))
            clock = completed
        finished = clock + 0.1 if rng.random() < 0.85 else None
        if finished is None and steps and rng.random() < 0.5:
            steps.append(Step("decide", "principal", clock, None, None, clock + 2))
        case(version, rng.choice(units), started, finished, steps)


def _export(tmp_path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The projection rows as CSV, the way an analyst would get them, read back with polars."""
    tasks_csv, cases_csv = tmp_path / "tasks.csv", tmp_path / "cases.csv"
    columns = ["id", "instance_id", "element_id", "lane", "unit__name", "status", "guardian_id"]
    times = ["ready_at", "claimed_at", "completed_at", "due_at"]
    with tasks_csv.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns + times)
        for row in UserTask.objects.values_list(*columns, *times):
            writer.writerow(
                [*row[: len(columns)], *(t.timestamp() if t else "" for t in row[len(columns) :])]
            )
    with cases_csv.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "status", "started_at", "completed_at"])
        for pk, status, started, done in ProcessInstance.objects.values_list(
            "id", "status", "started_at", "completed_at"
        ):
            writer.writerow([pk, status, started.timestamp(), done.timestamp() if done else ""])
    schema = {t: pl.Float64 for t in times}
    tasks = pl.read_csv(
        tasks_csv, schema_overrides={**schema, "instance_id": pl.String, "guardian_id": pl.Int64}
    )
    cases = pl.read_csv(cases_csv, schema_overrides={"started_at": pl.Float64, "completed_at": pl.Float64})
    return tasks, cases


def _stats(frame: pl.DataFrame, column: str, by: list[str]) -> dict:
    expr = pl.col(column).drop_nulls()
    out = frame.group_by(by).agg(
        expr.count().alias("n"),
        expr.quantile(0.5, interpolation="linear").alias("median"),
        expr.quantile(0.9, interpolation="linear").alias("p90"),
        expr.sum().alias("total"),
    )
    return {tuple(r[b] for b in by): r for r in out.iter_rows(named=True)}


@pytest.mark.parametrize("seed", [7])
def test_every_measure_agrees_with_polars_on_the_exported_rows(db, tmp_path, seed):
    version = published_support_version()
    units = [SchoolUnitFactory(name="Ekbackeskolan"), SchoolUnitFactory(name="Strandskolan")]
    _seed(version, units, random.Random(seed))
    filters = filters_for(version)
    start, end = filters.start.timestamp(), filters.end.timestamp()
    tasks, cases = _export(tmp_path)

    done_tasks = tasks.filter(
        (pl.col("status") == "completed") & (pl.col("completed_at") >= start) & (pl.col("completed_at") < end)
    ).with_columns(
        waiting=pl.coalesce("claimed_at", "completed_at") - pl.col("ready_at"),
        working=pl.col("completed_at") - pl.col("claimed_at"),
        late=pl.when(pl.col("completed_at") > pl.col("due_at")).then(
            pl.col("completed_at") - pl.col("due_at")
        ),
    )
    done_cases = cases.filter(
        (pl.col("status") == "completed") & (pl.col("completed_at") >= start) & (pl.col("completed_at") < end)
    ).with_columns(cycle=pl.col("completed_at") - pl.col("started_at"))

    # Waiting and working time per step.
    waiting, working = (
        _stats(done_tasks, "waiting", ["element_id"]),
        _stats(done_tasks, "working", ["element_id"]),
    )
    steps = step_times(filters)
    assert {s.element_id for s in steps} == {k[0] for k in waiting}
    for s in steps:
        for ours, theirs in ((s.waiting, waiting[(s.element_id,)]), (s.working, working[(s.element_id,)])):
            assert ours.count == theirs["n"]
            assert ours.median == pytest.approx(theirs["median"], abs=1e-3)
            assert ours.p90 == pytest.approx(theirs["p90"], abs=1e-3)
            assert ours.total == pytest.approx(theirs["total"] or 0.0, abs=1e-2)

    # Cycle time, overall and per week of completion (weeks start on Monday, Stockholm time).
    overview = process_overview(filters)
    whole = _stats(done_cases.with_columns(all=pl.lit(1)), "cycle", ["all"])[(1,)]
    assert overview.cycle.count == whole["n"] == overview.completed
    assert overview.cycle.median == pytest.approx(whole["median"], abs=1e-3)
    assert overview.cycle.p90 == pytest.approx(whole["p90"], abs=1e-3)
    weekly = _stats(
        done_cases.with_columns(
            week=pl.from_epoch((pl.col("completed_at") * 1e6).cast(pl.Int64), time_unit="us")
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone(TZ)
            .dt.truncate("1w")
            .dt.date()
        ),
        "cycle",
        ["week"],
    )
    ours_weekly = {w.monday: w.cycle for w in overview.weeks if w.cycle.count}
    assert set(ours_weekly) == {k[0] for k in weekly}
    for monday, durations in ours_weekly.items():
        assert durations.median == pytest.approx(weekly[(monday,)]["median"], abs=1e-3)
        assert durations.p90 == pytest.approx(weekly[(monday,)]["p90"], abs=1e-3)
    started = cases.filter((pl.col("started_at") >= start) & (pl.col("started_at") < end)).height
    assert overview.started == started

    # Bottlenecks: total waiting per step over all cycle time.
    cycle_total = done_cases["cycle"].sum()
    for b in bottlenecks_rank(filters):
        assert b.share_of_cycle_time == pytest.approx(
            waiting[(b.step.element_id,)]["total"] / cycle_total, abs=1e-6
        )

    # Deadlines per step and unit.
    with_due = done_tasks.filter(pl.col("due_at").is_not_null())
    late = _stats(with_due, "late", ["element_id", "unit__name"])
    for row in deadline_compliance(filters):
        theirs = late[(row.element_id, row.unit_name)]
        total = with_due.filter(
            (pl.col("element_id") == row.element_id) & (pl.col("unit__name") == row.unit_name)
        ).height
        assert (row.tasks, row.breached) == (total, theirs["n"])
        if theirs["n"]:
            assert row.median_lateness_days == pytest.approx(theirs["median"] / 86400, abs=1e-6)

    # Rework: the same step more than once in one case.
    repeats = (
        done_tasks.group_by("instance_id", "element_id", "guardian_id")
        .len()
        .filter(pl.col("len") > 1)
        .group_by("element_id")
        .agg(pl.len().alias("cases"), (pl.col("len") - 1).sum().alias("extra"))
    )
    assert {(r.element_id, r.cases, r.extra_visits) for r in rework_loops(filters)} == {
        (r["element_id"], r["cases"], r["extra"]) for r in repeats.iter_rows(named=True)
    }

    # Variants: the sequence of steps per completed case.
    paths = (
        tasks.sort("ready_at", "id")
        .group_by("instance_id", maintain_order=True)
        .agg(pl.col("element_id").str.join(" → ").alias("path"))
    )
    per_case = done_cases.join(paths, left_on="id", right_on="instance_id", how="left").with_columns(
        pl.col("path").fill_null("")
    )
    top = (
        per_case.group_by("path")
        .agg(pl.len().alias("n"), pl.col("cycle").quantile(0.5, interpolation="linear").alias("median"))
        .sort(["n", "path"], descending=[True, False])
        .head(5)
    )
    ours_variants = variants_top(filters)
    assert [" → ".join(v.steps) for v in ours_variants] == top["path"].to_list()
    assert [v.cases for v in ours_variants] == top["n"].to_list()
    for v, median in zip(ours_variants, top["median"].to_list(), strict=True):
        assert v.cycle.median == pytest.approx(median, abs=1e-3)
