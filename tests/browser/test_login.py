import pytest

from organisation.models import Role
from organisation.tests.factories import MembershipFactory, SchoolUnitFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_principal_logs_in_sees_her_unit_and_switches_to_english(live_server, page, tmp_path):
    unit = SchoolUnitFactory(name="Ekbackeskolan")
    MembershipFactory(user=UserFactory(username="rut", first_name="Rut"), unit=unit, role=Role.PRINCIPAL)

    page.goto(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "Logga in"
    page.get_by_label("Användarnamn").fill("rut")
    page.get_by_label("Lösenord").fill("secret-pass-123")
    page.get_by_role("button", name="Logga in").click()

    page.wait_for_selector("text=Välkommen, Rut")
    assert page.get_by_role("cell", name="Ekbackeskolan").is_visible()
    assert page.get_by_role("cell", name="Rektor").is_visible()
    page.screenshot(path=str(tmp_path / "start-sv.png"))

    page.get_by_role("button", name="English").click()
    page.wait_for_selector("text=Welcome, Rut")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("cell", name="Principal").is_visible()


def test_a_wrong_password_is_announced_to_screen_readers(live_server, page):
    UserFactory(username="rut")

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Användarnamn").fill("rut")
    page.get_by_label("Lösenord").fill("fel")
    page.get_by_role("button", name="Logga in").click()

    alert = page.get_by_role("alert")
    assert alert.is_visible()
    assert "Användarnamn" in alert.inner_text() or "lösenord" in alert.inner_text().lower()
    assert page.get_by_label("Användarnamn").get_attribute("aria-invalid") == "true"
