"""The login throttle and the data-subject services, below the views."""

import pytest
from django.core.cache import cache

from accounts.services.data_subjects import pupil_rectify
from accounts.services.logins import login_failure_register, login_failures_reset, login_locked
from common.errors import ApplicationError


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def test_the_lock_counts_per_username_and_address_case_insensitively(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        login_failure_register("Rut", "10.0.0.1")

    assert login_locked("rut", "10.0.0.1") and not login_locked("rut", "10.0.0.2")
    assert not login_locked("olle", "10.0.0.1")
    login_failures_reset("RUT", "10.0.0.1")
    assert not login_locked("rut", "10.0.0.1")


@pytest.mark.django_db
def test_rectification_refuses_fields_it_does_not_own(alva, rut):
    with pytest.raises(ApplicationError) as refused:
        pupil_rectify(alva, actor=rut, changes={"personnummer": "201605172383", "first_name": "Alma"})
    assert refused.value.code == "rectification_field_refused" and refused.value.extra["fields"] == [
        "personnummer"
    ]
    alva.refresh_from_db()
    assert alva.first_name == "Alva"
