import pytest

from organisation.models import Role
from organisation.tests.factories import (
    CustodyFactory,
    MembershipFactory,
    PupilFactory,
    SchoolUnitFactory,
    UserFactory,
)
from processes.tests.factories import published_support_version


@pytest.fixture
def ekbacke(db):
    return SchoolUnitFactory(name="Ekbackeskolan")


@pytest.fixture
def alva(ekbacke):
    return PupilFactory(unit=ekbacke, first_name="Alva")


@pytest.fixture
def sara(alva):
    """Alva's guardian."""
    return CustodyFactory(pupil=alva, guardian__user=UserFactory(username="sara")).guardian.user


@pytest.fixture
def rut(ekbacke):
    """Principal at Ekbackeskolan."""
    return MembershipFactory(user=UserFactory(username="rut"), unit=ekbacke, role=Role.PRINCIPAL).user


@pytest.fixture
def olle(db):
    """Principal at another school unit: the outsider."""
    return MembershipFactory(user=UserFactory(username="olle"), role=Role.PRINCIPAL).user


@pytest.fixture
def support_version(db):
    return published_support_version()
