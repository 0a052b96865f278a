"""The full dashboard report for one process: throughput and cycle time, waiting and working time per
step, and the steps ranked as bottlenecks (what bench/dashboard_report.py times)."""

from __future__ import annotations

from dataclasses import dataclass

from dashboards.selectors.bottlenecks import Bottleneck, bottlenecks_rank
from dashboards.selectors.cycle_time import Overview, process_overview
from dashboards.selectors.scope import DashboardFilters
from dashboards.selectors.steps import StepTimes, step_times


@dataclass(frozen=True)
class Report:
    overview: Overview
    steps: list[StepTimes]
    bottlenecks: list[Bottleneck]


def dashboard_report(filters: DashboardFilters) -> Report:
    steps = step_times(filters)
    overview = process_overview(filters)
    return Report(overview, steps, bottlenecks_rank(filters, steps, overview.cycle))
