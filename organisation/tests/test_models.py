import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from organisation.models import Membership, Pupil, Role
from organisation.tests.factories import MembershipFactory


def test_personnummer_is_stored_in_the_twelve_digit_form(ekbacke):
    pupil = Pupil.objects.create(personnummer="811218-9876", first_name="A", last_name="B", unit=ekbacke)
    pupil.refresh_from_db()
    assert pupil.personnummer == "198112189876"
    assert pupil.masked_personnummer == "19811218-****"


def test_an_invalid_personnummer_fails_model_validation(ekbacke):
    pupil = Pupil(personnummer="811218-9875", first_name="A", last_name="B", unit=ekbacke)
    with pytest.raises(ValidationError) as error:
        pupil.full_clean()
    assert "personnummer" in error.value.message_dict


def test_the_same_role_at_the_same_unit_cannot_be_held_twice(lars_teacher_at_ekbacke, ekbacke):
    with pytest.raises(IntegrityError):
        Membership.objects.create(user=lars_teacher_at_ekbacke, unit=ekbacke, role=Role.TEACHER)


def test_guardian_is_not_a_staff_membership(ekbacke):
    with pytest.raises(IntegrityError):
        MembershipFactory(unit=ekbacke, role=Role.GUARDIAN)
