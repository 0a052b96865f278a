import logging

import pytest
from django.urls import reverse

from organisation.models import Role
from organisation.tests.factories import MembershipFactory, SchoolUnitFactory, UserFactory


@pytest.mark.django_db
def test_health_reports_database_and_broker(client, settings):
    response = client.get(reverse("health"))

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["database"] == {"ok": True, "vendor": body["database"]["vendor"]}
    assert body["database"]["vendor"] in {"sqlite", "postgresql"}
    assert body["broker"]["mode"] == ("broker" if settings.CELERY_BROKER_URL else "eager")


@pytest.mark.django_db
def test_health_says_503_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get(reverse("health"))

    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False


@pytest.mark.django_db
def test_the_start_page_needs_a_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.django_db
def test_a_principal_logs_in_and_sees_her_roles_in_swedish(client):
    unit = SchoolUnitFactory(name="Ekbackeskolan")
    MembershipFactory(user=UserFactory(username="rut", first_name="Rut"), unit=unit, role=Role.PRINCIPAL)

    response = client.post(reverse("login"), {"username": "rut", "password": "secret-pass-123"}, follow=True)

    page = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="sv">' in page
    assert "Välkommen, Rut" in page
    assert "Ekbackeskolan" in page and "Rektor" in page


@pytest.mark.django_db
def test_a_wrong_password_gets_a_clear_message_and_no_session(client):
    UserFactory(username="rut")
    response = client.post(reverse("login"), {"username": "rut", "password": "wrong"})

    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_language_switch_turns_the_page_english(client):
    client.post(reverse("set_language"), {"language": "en", "next": reverse("login")})
    page = client.get(reverse("login")).content.decode()
    assert '<html lang="en">' in page and "Log in" in page and "Logga in" not in page

    client.post(reverse("set_language"), {"language": "sv", "next": reverse("login")})
    assert "Logga in" in client.get(reverse("login")).content.decode()


def test_log_lines_never_carry_a_whole_personnummer(caplog):
    from common.logging import PersonalDataMaskingFilter

    logger = logging.getLogger("skolflode.test")
    logger.addFilter(PersonalDataMaskingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="skolflode.test"):
            logger.info("placed pupil %s at %s", "20160517-2381", "Ekbackeskolan")
    finally:
        logger.filters.clear()
    assert caplog.messages == ["placed pupil 20160517-**** at Ekbackeskolan"]


@pytest.mark.django_db
def test_a_guardian_sees_what_is_waiting_for_her_and_her_children(
    client, support_version, ekbacke, alva, sara
):
    from processes.services.instances import process_instance_start

    process_instance_start(version=support_version, unit=ekbacke, pupil=alva)
    client.force_login(sara)

    page = client.get(reverse("home")).content.decode()

    assert "Fyll i ansökan" in page and alva.full_name in page
    assert "Dina roller" not in page
