"""Factories for organisation data. Personnummer are generated with valid check digits."""

from __future__ import annotations

import itertools
from datetime import date

import factory
from django.contrib.auth import get_user_model

from organisation.models import Custody, Guardian, Membership, Municipality, Pupil, Role, SchoolUnit
from organisation.services.demo import demo_personnummer

_serials = itertools.count(200)


def fresh_personnummer(birth: date = date(2016, 5, 17)) -> str:
    return demo_personnummer(birth, next(_serials) % 1000)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name", locale="sv_SE")
    last_name = factory.Faker("last_name", locale="sv_SE")
    password = factory.django.Password("secret-pass-123")


class MunicipalityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Municipality
        django_get_or_create = ["code"]

    code = "0120"
    name = "Skärviks kommun"


class SchoolUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SchoolUnit

    municipality = factory.SubFactory(MunicipalityFactory)
    code = factory.Sequence(lambda n: f"{91000000 + n}")
    name = factory.Sequence(lambda n: f"Skola {n}")
    kind = SchoolUnit.Kind.COMPULSORY


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    unit = factory.SubFactory(SchoolUnitFactory)
    role = Role.TEACHER


class PupilFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pupil

    personnummer = factory.LazyFunction(fresh_personnummer)
    first_name = "Alva"
    last_name = "Ek"
    unit = factory.SubFactory(SchoolUnitFactory)
    grade = "1"


class GuardianFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Guardian

    personnummer = factory.LazyFunction(lambda: fresh_personnummer(date(1984, 3, 9)))
    first_name = "Sara"
    last_name = "Ek"
    user = factory.SubFactory(UserFactory)


class CustodyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Custody

    pupil = factory.SubFactory(PupilFactory)
    guardian = factory.SubFactory(GuardianFactory)
