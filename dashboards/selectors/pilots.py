"""A pilot version against its baseline over the same period: cycle times of the cases of each version
completed in the period, the difference in medians with a bootstrap 95 % interval and a Mann–Whitney U
test, and a plain verdict.

Pilots are compared as versions A and B of one process. When processes grows a Pilot model, a pilot
resolves to its (baseline, pilot) versions and is passed in here unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from dashboards.selectors.durations import Durations
from dashboards.selectors.scope import DashboardFilters, instances_completed_in_period
from dashboards.stats import (
    ALPHA,
    MIN_CASES,
    bootstrap_median_difference_ci,
    mann_whitney_u,
    percentile_cont,
)
from processes.models import ProcessVersion


@dataclass(frozen=True)
class PilotComparison:
    baseline: ProcessVersion
    pilot: ProcessVersion
    baseline_cycle: Durations
    pilot_cycle: Durations
    difference_days: float | None
    ci_days: tuple[float, float] | None
    p_value: float | None
    verdict: str
    conclusive: bool


def _cycle_days(filters: DashboardFilters, version: ProcessVersion) -> list[float]:
    rows = instances_completed_in_period(filters.with_versions(version.pk)).values_list(
        "started_at", "completed_at"
    )
    return [(done - started).total_seconds() / 86400 for started, done in rows]


def _durations(days: list[float]) -> Durations:
    seconds = [d * 86400 for d in days]
    return Durations(len(seconds), percentile_cont(seconds, 0.5), percentile_cont(seconds, 0.9), sum(seconds))


def pilot_compare(
    filters: DashboardFilters, baseline: ProcessVersion, pilot: ProcessVersion
) -> PilotComparison:
    """Compare cycle times (days) of `pilot` against `baseline`: difference = median(B) − median(A).

    Too little data to tell when either side has fewer than 10 completed cases, or when the interval
    spans 0 and p ≥ 0.05.
    """
    a, b = _cycle_days(filters, baseline), _cycle_days(filters, pilot)
    difference = ci = p_value = None
    if a and b:
        difference = percentile_cont(b, 0.5) - percentile_cont(a, 0.5)
    if len(a) < MIN_CASES or len(b) < MIN_CASES:
        verdict = _("Too little data to tell: each version needs at least %(n)s completed cases.") % {
            "n": MIN_CASES
        }
        conclusive = False
    else:
        ci = bootstrap_median_difference_ci(a, b)
        p_value = mann_whitney_u(a, b).p_value
        spans_zero = ci[0] <= 0 <= ci[1]
        if spans_zero and p_value >= ALPHA:
            verdict = _("Too little data to tell: the difference could be zero.")
            conclusive = False
        elif difference < 0:
            verdict = _("The pilot is faster: its median cycle time is %(days)s days shorter.") % {
                "days": number_format(-difference, 1)
            }
            conclusive = True
        else:
            verdict = _("The pilot is slower: its median cycle time is %(days)s days longer.") % {
                "days": number_format(difference, 1)
            }
            conclusive = True
    return PilotComparison(
        baseline, pilot, _durations(a), _durations(b), difference, ci, p_value, verdict, conclusive
    )


def pilot_default_versions(filters: DashboardFilters) -> tuple[ProcessVersion, ProcessVersion] | None:
    """The two newest versions with cases: the older is the baseline, the newer the pilot."""
    versions = list(
        ProcessVersion.objects.filter(definition=filters.process, instances__isnull=False)
        .distinct()
        .order_by("-number")[:2]
    )
    return (versions[1], versions[0]) if len(versions) == 2 else None
