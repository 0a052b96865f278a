"""The measures, scenario by scenario, on projection rows written directly (dashboards/tests/history.py)."""

from __future__ import annotations

import pytest

from dashboards.selectors.bottlenecks import bottlenecks_rank, variants_top
from dashboards.selectors.compliance import deadline_compliance
from dashboards.selectors.cycle_time import process_overview
from dashboards.selectors.pilots import pilot_compare
from dashboards.selectors.steps import queue_ages, rework_loops, step_times
from dashboards.tests.history import Step, at, case, filters_for
from organisation.tests.factories import GuardianFactory, SchoolUnitFactory
from processes.tests.factories import published_support_version

DAY = 86400


@pytest.fixture
def version(db):
    return published_support_version()


@pytest.fixture
def strand(db):
    return SchoolUnitFactory(name="Strandskolan")


def by_step(filters):
    return {s.element_id: s for s in step_times(filters)}


def test_three_cases_wait_1_2_and_10_days_at_the_principal(version, ekbacke):
    for wait in (1, 2, 10):
        case(version, ekbacke, 0, wait + 1, [Step("decide", "principal", 0, wait, wait + 0.5)])

    decide = by_step(filters_for(version))["decide"]

    assert decide.tasks == 3
    assert decide.waiting.median == pytest.approx(2 * DAY)
    assert decide.waiting.p90 == pytest.approx(8.4 * DAY)
    assert decide.waiting.total == pytest.approx(13 * DAY)
    assert decide.working.median == pytest.approx(0.5 * DAY)


def test_a_task_completed_without_being_taken_waited_until_it_was_completed(version, ekbacke):
    case(version, ekbacke, 0, 5, [Step("reply", "guardian", 0, None, 4)])

    reply = by_step(filters_for(version))["reply"]

    assert reply.waiting.median == pytest.approx(4 * DAY)
    assert reply.working.count == 0 and reply.working.median is None


def test_cases_started_completed_and_open_per_week(version, ekbacke):
    case(version, ekbacke, 0, 3, [])  # week 1 → week 1, cycle 3 days
    case(version, ekbacke, 1, 9, [])  # week 1 → week 2, cycle 8 days
    case(version, ekbacke, 8, None, [])  # week 2, still open
    case(version, ekbacke, -30, 2, [])  # started before the period, completed in week 1

    overview = process_overview(filters_for(version))

    assert overview.started == 3 and overview.completed == 3 and overview.open_now == 1
    week1, week2, week3 = overview.weeks[1:4]  # the period starts on Sunday 1 March: its week comes first
    assert (week1.started, week1.completed, week1.open_at_end) == (2, 2, 1)
    assert (week2.started, week2.completed, week2.open_at_end) == (1, 1, 1)
    assert (week3.started, week3.completed, week3.open_at_end) == (0, 0, 1)
    assert overview.cycle.median == pytest.approx(8 * DAY)  # 3, 8 and 32 days
    assert week1.cycle.count == 2 and week2.cycle.median == pytest.approx(8 * DAY)


def test_a_step_done_twice_in_one_case_is_rework_but_each_guardians_own_task_is_not(version, ekbacke, alva):
    sara, johan = GuardianFactory(), GuardianFactory()
    case(
        version,
        ekbacke,
        0,
        9,
        [
            Step("plan", "teacher", 0, 1, 2),
            Step("evaluate", "teacher", 2, 3, 4),
            Step("plan", "teacher", 4, 5, 6),
            Step("answer", "guardian", 6, None, 7, guardian_id=sara.pk),
            Step("answer", "guardian", 6, None, 8, guardian_id=johan.pk),
        ],
    )

    loops = rework_loops(filters_for(version))

    assert [(r.element_id, r.cases, r.extra_visits) for r in loops] == [("plan", 1, 1)]


def test_queues_show_open_tasks_per_role_and_unit_by_age(version, ekbacke, strand):
    case(version, ekbacke, 0, None, [Step("decide", "principal", 0, None, None)])
    case(version, ekbacke, 4, None, [Step("decide", "principal", 4, None, None)])
    case(version, strand, 9, None, [Step("investigate", "student_health", 9, None, None)])

    queues = queue_ages(filters_for(version), now=at(10))

    assert [(q.lane, q.unit_name, q.open_tasks, q.oldest_days, q.median_days) for q in queues] == [
        ("principal", "Ekbackeskolan", 2, 10, 8),
        ("student_health", "Strandskolan", 1, 1, 1),
    ]


def test_a_principal_sees_only_her_units_queues(version, ekbacke, strand):
    case(version, strand, 0, None, [Step("decide", "principal", 0, None, None)])

    assert queue_ages(filters_for(version, units=[ekbacke.pk]), now=at(1)) == []


def test_steps_are_ranked_by_total_waiting_and_its_share_of_cycle_time(version, ekbacke):
    case(
        version, ekbacke, 0, 10, [Step("apply", "guardian", 0, None, 1), Step("decide", "principal", 1, 7, 9)]
    )
    case(
        version, ekbacke, 0, 10, [Step("apply", "guardian", 0, None, 3), Step("decide", "principal", 3, 5, 9)]
    )

    ranked = bottlenecks_rank(filters_for(version))

    assert [(b.rank, b.step.element_id) for b in ranked] == [(1, "decide"), (2, "apply")]
    assert ranked[0].step.waiting.total == pytest.approx(8 * DAY)
    assert ranked[0].share_of_cycle_time == pytest.approx(8 / 20)
    assert ranked[1].share_of_cycle_time == pytest.approx(4 / 20)


def test_the_most_common_path_comes_first_with_its_share_and_median_cycle_time(version, ekbacke):
    for cycle in (4, 6, 20):
        case(
            version,
            ekbacke,
            0,
            cycle,
            [Step("apply", "guardian", 0, None, 1), Step("decide", "principal", 1, 2, 3)],
        )
    case(
        version,
        ekbacke,
        0,
        30,
        [
            Step("apply", "guardian", 0, None, 1),
            Step("decide", "principal", 1, 2, 3),
            Step("apply", "guardian", 3, None, 4),
        ],
    )

    variants = variants_top(filters_for(version))

    assert [(v.steps, v.cases) for v in variants] == [
        (["apply", "decide"], 3),
        (["apply", "decide", "apply"], 1),
    ]
    assert variants[0].share == pytest.approx(0.75)
    assert variants[0].cycle.median == pytest.approx(6 * DAY)


def test_deadlines_met_and_breached_with_median_lateness_per_unit(version, ekbacke, strand):
    for completed in (0.5, 1.0, 3.0, 5.0):  # due after 1 day: two in time (one exactly on time), late 2 and 4
        case(version, ekbacke, 0, 6, [Step("report", "principal", 0, None, completed, due=1)])
    case(version, strand, 0, 6, [Step("report", "principal", 0, None, 2, due=1)])
    case(version, strand, 0, 6, [Step("no_due_date", "principal", 0, None, 2)])

    rows = {(c.element_id, c.unit_name): c for c in deadline_compliance(filters_for(version))}

    ekbacke_row = rows[("report", "Ekbackeskolan")]
    assert (ekbacke_row.tasks, ekbacke_row.met, ekbacke_row.breached) == (4, 2, 2)
    assert ekbacke_row.met_share == 0.5
    assert ekbacke_row.median_lateness_days == pytest.approx(3)
    assert rows[("report", "Strandskolan")].median_lateness_days == pytest.approx(1)
    assert ("no_due_date", "Strandskolan") not in rows


def test_the_legal_and_local_deadlines_are_named(db, ekbacke):
    from processes.services.versions import process_version_deploy
    from processes.tests.factories import support_bundle_files

    version, _ = process_version_deploy(support_bundle_files(key="offensive_treatment"))
    case(version, ekbacke, 0, 3, [Step("report_to_governing_body", "principal", 0, None, 2, due=1)])

    [row] = deadline_compliance(filters_for(version))

    assert "1 arbetsdag" in str(row.deadline) and "lokal policy" in str(row.deadline)


def _cases(version, unit, cycles):
    for index, days in enumerate(cycles):
        case(version, unit, index * 0.1, index * 0.1 + days, [])


def test_nine_cases_against_twenty_is_too_little_data_to_tell(version, ekbacke):
    from processes.tests.factories import published_support_version as deploy

    pilot = deploy(**{"P5D": "P4D"})
    _cases(version, ekbacke, [30] * 20)
    _cases(pilot, ekbacke, [10] * 9)

    result = pilot_compare(filters_for(version), version, pilot)

    assert not result.conclusive and "För lite data för att avgöra" in str(result.verdict)
    assert result.difference_days == pytest.approx(-20)
    assert result.ci_days is None and result.p_value is None


def test_a_pilot_that_is_clearly_faster_says_so_with_an_interval_below_zero(version, ekbacke):
    from processes.tests.factories import published_support_version as deploy

    pilot = deploy(**{"P5D": "P4D"})
    _cases(version, ekbacke, [20 + i % 7 for i in range(15)])
    _cases(pilot, ekbacke, [10 + i % 5 for i in range(15)])

    result = pilot_compare(filters_for(version), version, pilot)

    assert result.conclusive and "snabbare" in str(result.verdict)
    assert result.ci_days[1] < 0 and result.p_value < 0.001


def test_two_versions_with_the_same_times_are_too_close_to_tell(version, ekbacke):
    from processes.tests.factories import published_support_version as deploy

    pilot = deploy(**{"P5D": "P4D"})
    _cases(version, ekbacke, [10 + i % 7 for i in range(12)])
    _cases(pilot, ekbacke, [10 + (i + 3) % 7 for i in range(12)])

    result = pilot_compare(filters_for(version), version, pilot)

    assert not result.conclusive and "kan vara noll" in str(result.verdict)
