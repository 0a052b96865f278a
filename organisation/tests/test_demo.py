import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from organisation.models import Custody, Guardian, Membership, Pupil, Role, SchoolUnit
from organisation.services.demo import demo_data_load


@pytest.mark.django_db
def test_the_demo_municipality_has_staff_in_every_role_pupils_and_guardians():
    summary = demo_data_load()

    assert 3 <= SchoolUnit.objects.count() <= 5
    assert set(SchoolUnit.objects.values_list("kind", flat=True)) == {"forskola", "grundskola", "gymnasium"}
    held = set(Membership.objects.values_list("role", flat=True))
    assert held >= {
        Role.PRINCIPAL,
        Role.TEACHER,
        Role.SCHOOL_ADMIN,
        Role.STUDENT_HEALTH,
        Role.PLACEMENT_OFFICE,
        Role.GOVERNING_BODY,
    }
    for unit in SchoolUnit.objects.all():
        assert Membership.objects.filter(unit=unit, role=Role.PRINCIPAL).exists(), unit
        assert unit.pupils.exists(), unit
    assert Pupil.objects.count() == summary.pupils > 0
    assert Custody.objects.filter(pupil__in=Pupil.objects.all()).count() > Pupil.objects.count()
    for pupil in Pupil.objects.all():
        pupil.full_clean()  # every generated personnummer passes the checksum


@pytest.mark.django_db
def test_loading_the_demo_data_twice_duplicates_nothing():
    call_command("load_demo_data")
    counts = [m.objects.count() for m in (get_user_model(), SchoolUnit, Membership, Pupil, Guardian, Custody)]

    call_command("load_demo_data")
    second = demo_data_load()

    assert [
        m.objects.count() for m in (get_user_model(), SchoolUnit, Membership, Pupil, Guardian, Custody)
    ] == counts
    assert second.created == 0
