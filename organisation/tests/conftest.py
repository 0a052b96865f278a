import pytest

from organisation.models import Role
from organisation.tests.factories import (
    CustodyFactory,
    MembershipFactory,
    PupilFactory,
    SchoolUnitFactory,
    UserFactory,
)


@pytest.fixture
def strand(db):
    return SchoolUnitFactory(name="Strandskolan")


@pytest.fixture
def rut_principal_at_ekbacke(ekbacke):
    return MembershipFactory(user=UserFactory(username="rut"), unit=ekbacke, role=Role.PRINCIPAL).user


@pytest.fixture
def lars_teacher_at_ekbacke(ekbacke):
    return MembershipFactory(user=UserFactory(username="lars"), unit=ekbacke, role=Role.TEACHER).user


@pytest.fixture
def olle_principal_at_strand(strand):
    """The outsider: a principal, but at another school unit."""
    return MembershipFactory(user=UserFactory(username="olle"), unit=strand, role=Role.PRINCIPAL).user


@pytest.fixture
def alva_at_ekbacke(ekbacke):
    return PupilFactory(unit=ekbacke, first_name="Alva", last_name="Ek")


@pytest.fixture
def sara_guardian_of_alva(alva_at_ekbacke):
    return CustodyFactory(pupil=alva_at_ekbacke).guardian
