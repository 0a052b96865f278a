"""A principal opens the leadership dashboards in Debian's chromium: the overview, the bottleneck heat map
and a pilot comparison, on the demo history; screenshots go to var/browser-artifacts/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from dashboards.services.demo import demo_history_load
from organisation.models import Role, SchoolUnit
from organisation.tests.factories import MembershipFactory, SchoolUnitFactory, UserFactory
from processes.services.versions import (
    bundle_files_from_folder,
    process_library_folders,
    process_version_deploy,
    process_version_publish,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "browser-artifacts"


@pytest.fixture
def history():
    ekbacke = SchoolUnitFactory(name="Ekbackeskolan", kind=SchoolUnit.Kind.COMPULSORY)
    SchoolUnitFactory(name="Strandskolan", kind=SchoolUnit.Kind.COMPULSORY)
    folder = next(p for p in process_library_folders() if p.name == "special_support")
    version, _ = process_version_deploy(bundle_files_from_folder(folder))
    process_version_publish(version)
    demo_history_load()
    MembershipFactory(
        user=UserFactory(username="hanna", first_name="Hanna"), unit=ekbacke, role=Role.GOVERNING_BODY
    )
    return version


def _log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/login/?next=/dashboards/")
    page.get_by_label("Användarnamn").fill("hanna")
    page.get_by_label("Lösenord").fill("secret-pass-123")
    page.get_by_role("button", name="Logga in").click()


def test_leadership_sees_the_overview_heat_map_and_pilot(live_server, page, history):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _log_in(page, live_server)
    page.wait_for_selector("h1:has-text('Översikt')")
    page.get_by_role("link", name="Särskilt stöd").click()

    page.wait_for_selector("#chart-throughput svg[role=img]")
    assert page.get_by_role("img", name="Ärenden som startat och avslutats per vecka").is_visible()
    page.locator("#chart-step-times summary").click()
    assert page.locator("#chart-step-times table").is_visible()
    page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

    page.get_by_role("link", name="Flaskhalsar").click()
    page.wait_for_selector(".diagram svg")
    assert page.locator(".diagram svg text", has_text="Utreda behovet").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "dashboard-heatmap.png"), full_page=True)

    start = (timezone.localdate() - timedelta(days=90)).isoformat()
    page.get_by_role("link", name="Pilot mot baslinje").click()
    page.get_by_label("Från", exact=True).fill(start)
    page.get_by_role("button", name="Visa").click()
    verdict = page.locator(".verdict-text")
    verdict.wait_for()
    assert "snabbare" in verdict.inner_text()
    page.screenshot(path=str(ARTIFACTS / "dashboard-pilot.png"), full_page=True)
