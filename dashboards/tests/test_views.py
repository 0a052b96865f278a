"""Who sees the dashboards, what the pages show (aggregates only), charts with tables and CSV."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboards.tests.history import Step, case
from organisation.models import Role
from organisation.tests.factories import MembershipFactory, PupilFactory, SchoolUnitFactory, UserFactory
from processes.tests.factories import published_support_version

PERIOD = {"from": "2026-03-01", "to": "2026-06-30"}


@pytest.fixture
def version(db):
    return published_support_version()


@pytest.fixture
def history(version, ekbacke):
    alva = PupilFactory(unit=ekbacke, first_name="Alvaretta", last_name="Hemligsson")
    for wait in (1, 2, 10):
        instance = case(
            version,
            ekbacke,
            0,
            wait + 2,
            [
                Step("apply", "guardian", 0, None, 0.5),
                Step("decide", "principal", 0.5, wait, wait + 1, due=3),
            ],
        )
        instance.pupil = alva
        instance.save(update_fields=["pupil"])
    return version


@pytest.fixture
def hanna(ekbacke):
    """The governing body: every unit."""
    return MembershipFactory(user=UserFactory(username="hanna"), unit=ekbacke, role=Role.GOVERNING_BODY).user


def url(name, version, **query):
    from urllib.parse import urlencode

    return reverse(f"dashboards:{name}", args=[version.definition.key]) + "?" + urlencode({**PERIOD, **query})


@pytest.mark.parametrize("page", ["overview", "bottlenecks", "deadlines", "pilot"])
def test_the_principal_sees_every_page_of_her_units(client, rut, history, page):
    client.force_login(rut)

    response = client.get(url(page, history))

    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "Alvaretta" not in html and "Hemligsson" not in html and "rut" not in html.lower().split("<main")[1]
    )


def test_a_teacher_and_an_outsider_unit_are_refused(client, rut, olle, history, ekbacke):
    teacher = MembershipFactory(unit=ekbacke, role=Role.TEACHER).user
    client.force_login(teacher)
    assert client.get(reverse("dashboards:index")).status_code == 403
    assert client.get(url("overview", history)).status_code == 403
    client.force_login(olle)
    assert client.get(url("overview", history, unit=ekbacke.pk)).status_code == 403


def test_a_principal_of_another_unit_sees_none_of_ekbackes_cases(client, olle, history):
    client.force_login(olle)

    response = client.get(url("overview", history, csv="step-times"))

    assert response.status_code == 200
    assert response.content.decode().strip().count("\n") == 0  # the header row only


def test_the_governing_body_and_superusers_see_all_units(client, hanna, history):
    client.force_login(hanna)
    assert client.get(url("overview", history)).context["filters"].allowed_units is None
    client.force_login(UserFactory(username="root", is_superuser=True))
    assert client.get(url("overview", history)).status_code == 200


def test_anonymous_visitors_are_sent_to_log_in(client, history):
    assert client.get(url("overview", history)).status_code == 302


def test_every_chart_is_an_accessible_svg_with_a_table_and_a_csv_link(client, rut, history):
    client.force_login(rut)

    response = client.get(url("overview", history))

    html = response.content.decode()
    charts = response.context["charts"]
    assert {c.slug for c in charts} >= {"throughput", "wip", "cycle-time", "step-times", "queues", "rework"}
    for chart in charts:
        if chart.rows:
            assert f'aria-labelledby="{chart.slug}-title {chart.slug}-desc"' in html
        assert f"csv={chart.slug}" in html
    assert html.count("<details>") == len(charts)
    assert 'role="img"' in html and "<script" not in html.split("<main")[1]


def test_the_step_table_downloads_as_csv(client, rut, history):
    client.force_login(rut)

    response = client.get(url("overview", history, csv="step-times"))

    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().strip().splitlines()
    assert len(lines) == 3  # header, apply, decide: named as in the version's model
    decide = next(line for line in lines if line.startswith("Fatta beslut"))
    assert decide.split(",")[3:5] == ["1.5", "7.9"]  # waiting median and p90 in days: 0.5, 1.5, 9.5


def test_an_unknown_chart_is_404(client, rut, history):
    client.force_login(rut)
    assert client.get(url("overview", history, csv="nope")).status_code == 404


def test_the_heat_map_is_an_svg_of_the_model_with_lanes_and_a_legend(client, rut, history):
    client.force_login(rut)

    response = client.get(
        reverse("dashboards:heatmap", args=[history.definition.key]) + "?from=2026-03-01&to=2026-06-30"
    )

    assert response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    assert svg.startswith("<?xml") and 'role="img"' in svg
    assert "cluster_principal" in svg and "cluster_legend" in svg


def test_the_pilot_page_says_too_little_data_with_one_version(client, rut, history):
    client.force_login(rut)

    response = client.get(url("pilot", history))

    assert response.context["comparison"] is None


def test_the_main_menu_shows_oversikt_to_principals_only(client, rut, ekbacke, history):
    client.force_login(rut)
    assert reverse("dashboards:index") in client.get(reverse("tasks:inbox")).content.decode()
    client.force_login(MembershipFactory(unit=ekbacke, role=Role.TEACHER).user)
    assert reverse("dashboards:index") not in client.get(reverse("tasks:inbox")).content.decode()


def test_a_process_without_cases_shows_empty_charts(client, rut, version):
    client.force_login(rut)
    response = client.get(url("bottlenecks", version))
    assert response.status_code == 200


def test_the_index_lists_processes_with_cases(client, rut, history):
    client.force_login(rut)
    assert history.definition.name_sv in client.get(reverse("dashboards:index")).content.decode()


def test_a_unit_from_the_url_narrows_the_dashboard(client, hanna, history, ekbacke):
    client.force_login(hanna)
    other = SchoolUnitFactory()
    response = client.get(url("overview", history, unit=other.pk))
    assert response.context["overview"].completed == 0
