"""What each dashboard page shows: selector results turned into charts (each with its table and CSV)."""

from __future__ import annotations

from typing import Any

from django.utils.formats import date_format
from django.utils.translation import gettext as _

from dashboards.charts import Chart, bar_chart, line_chart
from dashboards.selectors.bottlenecks import Bottleneck, Variant
from dashboards.selectors.compliance import Compliance
from dashboards.selectors.cycle_time import Overview
from dashboards.selectors.pilots import PilotComparison
from dashboards.selectors.steps import QueueAge, Rework, StepTimes
from organisation.models import Role


def lane_label(lane: str) -> str:
    try:
        return str(Role(lane).label)
    except ValueError:
        return lane


def _d(value: float | None) -> str | float:
    return "" if value is None else round(value, 2)


def overview_charts(overview: Overview, steps: list[StepTimes]) -> list[Chart]:
    weeks = [date_format(w.monday, "j M") for w in overview.weeks]
    iso = [w.monday.isoformat() for w in overview.weeks]
    throughput = line_chart(
        Chart(
            "throughput",
            _("Cases started and completed per week"),
            _("Throughput: how many cases started and how many were completed each week of the period."),
            [_("Week starting"), _("Started cases"), _("Completed cases")],
            [[d, w.started, w.completed] for d, w in zip(iso, overview.weeks, strict=True)],
        ),
        weeks,
        [
            (_("Started cases"), [w.started for w in overview.weeks]),
            (_("Completed cases"), [w.completed for w in overview.weeks]),
        ],
        _("cases"),
    )
    wip = line_chart(
        Chart(
            "wip",
            _("Open cases at the end of each week"),
            _("Work in progress: cases started and not yet ended at the end of each week."),
            [_("Week starting"), _("Open at week end")],
            [[d, w.open_at_end] for d, w in zip(iso, overview.weeks, strict=True)],
        ),
        weeks,
        [(_("Open cases"), [w.open_at_end for w in overview.weeks])],
        _("cases"),
    )
    cycle = line_chart(
        Chart(
            "cycle-time",
            _("Cycle time per week of completion"),
            _("Days from start to completion of the cases completed each week: median and 90th percentile."),
            [_("Week starting"), _("Completed cases"), _("Median (days)"), _("90th percentile (days)")],
            [
                [d, w.cycle.count, _d(w.cycle.median_days), _d(w.cycle.p90_days)]
                for d, w in zip(iso, overview.weeks, strict=True)
            ],
        ),
        weeks,
        [
            (_("Median"), [w.cycle.median_days for w in overview.weeks]),
            (_("90th percentile"), [w.cycle.p90_days for w in overview.weeks]),
        ],
        _("days"),
    )
    waiting = bar_chart(
        Chart(
            "step-times",
            _("Waiting and working time per step"),
            _(
                "Median waiting time per step (ready until someone took the task; a task completed without "
                "being taken waited until it was completed) and working time (taken until completed)."
            ),
            [
                _("Step"),
                _("Role"),
                _("Tasks"),
                _("Waiting median (days)"),
                _("Waiting p90 (days)"),
                _("Working median (days)"),
                _("Working p90 (days)"),
            ],
            [
                [
                    s.name,
                    lane_label(s.lane),
                    s.tasks,
                    _d(s.waiting.median_days),
                    _d(s.waiting.p90_days),
                    _d(s.working.median_days),
                    _d(s.working.p90_days),
                ]
                for s in steps
            ],
        ),
        [(s.name, s.waiting.median_days) for s in steps],
        _("days"),
    )
    return [throughput, wip, cycle, waiting]


def queue_chart(queues: list[QueueAge]) -> Chart:
    return bar_chart(
        Chart(
            "queues",
            _("Open tasks now: age of the oldest per role and unit"),
            _("Tasks waiting right now, per role and school unit: how many, the oldest and the median age."),
            [_("Role"), _("School unit"), _("Open tasks"), _("Oldest (days)"), _("Median age (days)")],
            [
                [lane_label(q.lane), q.unit_name, q.open_tasks, _d(q.oldest_days), _d(q.median_days)]
                for q in queues
            ],
        ),
        [(f"{lane_label(q.lane)}, {q.unit_name}", q.oldest_days) for q in queues],
        _("days"),
    )


def rework_chart(rework: list[Rework]) -> Chart:
    return bar_chart(
        Chart(
            "rework",
            _("Rework loops: steps done again in the same case"),
            _("Per step: in how many cases it was done more than once, and how many extra times in all."),
            [_("Step"), _("Cases"), _("Extra visits")],
            [[r.name, r.cases, r.extra_visits] for r in rework],
        ),
        [(r.name, r.extra_visits) for r in rework],
        _("extra visits"),
    )


def bottleneck_chart(ranked: list[Bottleneck]) -> Chart:
    return bar_chart(
        Chart(
            "bottlenecks",
            _("Steps by total waiting time"),
            _("All waiting time at each step added up, largest first, and its share of all cycle time."),
            [
                _("Rank"),
                _("Step"),
                _("Role"),
                _("Total waiting (days)"),
                _("Share of cycle time (%)"),
                _("Median waiting (days)"),
            ],
            [
                [
                    b.rank,
                    b.step.name,
                    lane_label(b.step.lane),
                    _d(b.step.waiting.total_days),
                    "" if b.share_of_cycle_time is None else round(100 * b.share_of_cycle_time, 1),
                    _d(b.step.waiting.median_days),
                ]
                for b in ranked
            ],
        ),
        [(b.step.name, b.step.waiting.total_days) for b in ranked],
        _("days"),
    )


def variants_chart(variants: list[Variant], names: dict[str, str]) -> Chart:
    def path(v: Variant) -> str:
        return " → ".join(names.get(e, e) for e in v.steps)

    return bar_chart(
        Chart(
            "variants",
            _("Most common paths through the process"),
            _(
                "The sequences of steps completed cases took, the most common first, with their share of "
                "cases."
            ),
            [
                _("Path"),
                _("Cases"),
                _("Share (%)"),
                _("Median cycle time (days)"),
                _("90th percentile (days)"),
            ],
            [
                [path(v), v.cases, round(100 * v.share, 1), _d(v.cycle.median_days), _d(v.cycle.p90_days)]
                for v in variants
            ],
        ),
        [(_("Path %(n)s") % {"n": i + 1}, 100 * v.share) for i, v in enumerate(variants)],
        "%",
    )


def compliance_chart(rows: list[Compliance]) -> Chart:
    return bar_chart(
        Chart(
            "deadlines",
            _("Deadlines met per step and unit"),
            _(
                "Tasks with a due date completed in the period: the share completed in time, and how "
                "late the late ones were (median)."
            ),
            [
                _("Step"),
                _("School unit"),
                _("Deadline"),
                _("Tasks"),
                _("Met"),
                _("Breached"),
                _("Met (%)"),
                _("Median lateness of breaches (days)"),
            ],
            [
                [
                    c.name,
                    c.unit_name,
                    str(c.deadline or ""),
                    c.tasks,
                    c.met,
                    c.breached,
                    round(100 * c.met_share, 1),
                    _d(c.median_lateness_days),
                ]
                for c in rows
            ],
        ),
        [(f"{c.name}, {c.unit_name}", 100 * c.met_share) for c in rows],
        _("% in time"),
    )


def pilot_chart(comparison: PilotComparison) -> Chart:
    a, b = comparison.baseline_cycle, comparison.pilot_cycle
    label_a = _("Version %(n)s (baseline)") % {"n": comparison.baseline.number}
    label_b = _("Version %(n)s (pilot)") % {"n": comparison.pilot.number}
    return bar_chart(
        Chart(
            "pilot",
            _("Cycle time, baseline against pilot"),
            _("Median and 90th percentile days from start to completion, per version, same period."),
            [_("Version"), _("Completed cases"), _("Median (days)"), _("90th percentile (days)")],
            [
                [label_a, a.count, _d(a.median_days), _d(a.p90_days)],
                [label_b, b.count, _d(b.median_days), _d(b.p90_days)],
            ],
        ),
        [
            (f"{label_a}: " + _("median"), a.median_days),
            (f"{label_b}: " + _("median"), b.median_days),
            (f"{label_a}: " + _("90th percentile"), a.p90_days),
            (f"{label_b}: " + _("90th percentile"), b.p90_days),
        ],
        _("days"),
    )


def charts_by_slug(charts: list[Chart]) -> dict[str, Any]:
    return {c.slug: c for c in charts}
