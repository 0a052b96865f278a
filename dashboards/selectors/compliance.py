"""Deadline compliance: for every task with a due date, completed in the period, was it done in time,
and how late were the late ones (median lateness). Per step and school unit, with the deadlines that come
from law or local policy named (bpmn/README.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Max
from django.utils.translation import gettext_lazy as _

from dashboards.selectors.durations import durations_by_group
from dashboards.selectors.scope import DashboardFilters, tasks_completed_in_period

# (process key, step) → what the deadline is and whether it is law or local policy (bpmn/README.md).
NAMED_DEADLINES: dict[tuple[str, str], Any] = {
    ("offensive_treatment", "report_to_governing_body"): _(
        "Report to the governing body within 1 working day (local policy; the law, 6 ch. 10 § of the "
        "Education Act, sets no period)"
    ),
    ("preschool_placement", "offer_place"): _(
        "Offer a preschool place within 4 months (law, Education Act ch. 8)"
    ),
    ("special_support", "investigate_needs"): _(
        "Investigate promptly (law: 3 ch. 7 §); reminder after 5 working days (local policy)"
    ),
    ("problematic_absence", "investigate"): _(
        "Investigate promptly (law: 7 ch. 19 a §); 10 working days (local policy)"
    ),
}


@dataclass(frozen=True)
class Compliance:
    element_id: str
    name: str
    unit_name: str
    tasks: int
    met: int
    breached: int
    median_lateness_days: float | None
    deadline: Any

    @property
    def met_share(self) -> float:
        return self.met / self.tasks if self.tasks else 0.0


def deadline_compliance(filters: DashboardFilters) -> list[Compliance]:
    """Per step and unit: tasks with a due date, how many met it (completed at or before due), how many
    breached it, and the median lateness (completed − due) of the breached ones."""
    base = tasks_completed_in_period(filters).filter(due_at__isnull=False)
    late = durations_by_group(
        base.filter(completed_at__gt=F("due_at")),
        ["element_id", "unit__name"],
        {"late": (("completed_at",), "due_at")},
    )
    counts = (
        base.order_by()
        .values("element_id", "unit__name")
        .annotate(name=Max("name"), total=Count("pk"))
        .values_list("element_id", "unit__name", "name", "total")
    )
    result = []
    for element_id, unit_name, name, total in counts:
        lateness = late.get((element_id, unit_name), {}).get("late")
        breached = lateness.count if lateness else 0
        result.append(
            Compliance(
                element_id,
                name,
                unit_name,
                total,
                total - breached,
                breached,
                lateness.median_days if lateness else None,
                NAMED_DEADLINES.get((filters.process.key, element_id)),
            )
        )
    return sorted(result, key=lambda c: (c.deadline is None, c.met_share, c.element_id, c.unit_name))
