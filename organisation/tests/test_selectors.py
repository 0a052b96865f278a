import pytest

from organisation.models import Role
from organisation.selectors import (
    pupils_visible_to,
    units_for_user,
    user_has_role_at_unit,
    users_with_role_at_unit,
)
from organisation.tests.factories import MembershipFactory, PupilFactory


def test_a_principal_holds_the_role_at_her_own_unit_only(rut_principal_at_ekbacke, ekbacke, strand):
    assert user_has_role_at_unit(rut_principal_at_ekbacke, Role.PRINCIPAL, ekbacke)
    assert not user_has_role_at_unit(rut_principal_at_ekbacke, Role.PRINCIPAL, strand)
    assert not user_has_role_at_unit(rut_principal_at_ekbacke, Role.TEACHER, ekbacke)


def test_a_lane_resolves_to_the_people_holding_that_role_at_the_case_unit(
    rut_principal_at_ekbacke, olle_principal_at_strand, lars_teacher_at_ekbacke, ekbacke, strand
):
    assert list(users_with_role_at_unit(Role.PRINCIPAL, ekbacke)) == [rut_principal_at_ekbacke]
    assert list(users_with_role_at_unit(Role.PRINCIPAL, strand)) == [olle_principal_at_strand]
    assert list(users_with_role_at_unit(Role.TEACHER, strand)) == []


def test_a_user_with_roles_at_two_units_sees_both(lars_teacher_at_ekbacke, ekbacke, strand):
    MembershipFactory(user=lars_teacher_at_ekbacke, unit=strand, role=Role.TEACHER)
    MembershipFactory(user=lars_teacher_at_ekbacke, unit=strand, role=Role.SCHOOL_ADMIN)

    assert set(units_for_user(lars_teacher_at_ekbacke)) == {ekbacke, strand}
    assert list(units_for_user(lars_teacher_at_ekbacke, Role.SCHOOL_ADMIN)) == [strand]


def test_staff_see_their_units_pupils_and_guardians_see_their_own_children(
    rut_principal_at_ekbacke, olle_principal_at_strand, alva_at_ekbacke, sara_guardian_of_alva, strand
):
    noah_at_strand = PupilFactory(unit=strand, first_name="Noah")

    assert list(pupils_visible_to(rut_principal_at_ekbacke)) == [alva_at_ekbacke]
    assert list(pupils_visible_to(olle_principal_at_strand)) == [noah_at_strand]
    assert list(pupils_visible_to(sara_guardian_of_alva.user)) == [alva_at_ekbacke]


@pytest.mark.django_db
def test_anonymous_users_hold_no_role_and_see_no_pupil(ekbacke):
    from django.contrib.auth.models import AnonymousUser

    anonymous = AnonymousUser()
    assert not user_has_role_at_unit(anonymous, Role.PRINCIPAL, ekbacke)
    assert list(units_for_user(anonymous)) == []
    assert list(pupils_visible_to(anonymous)) == []
