"""Reads of organisation data. Every unit-scoped question is answered here, in one place."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from organisation.models import Membership, Pupil, Role, SchoolUnit

AnyUser = AbstractBaseUser | AnonymousUser


def memberships_for_user(user: AnyUser) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("unit").order_by("unit__name", "role")


def units_for_user(user: AnyUser, role: Role | str | None = None) -> QuerySet[SchoolUnit]:
    """School units where the user holds `role` (any staff role when None)."""
    if not user.is_authenticated:
        return SchoolUnit.objects.none()
    memberships = Membership.objects.filter(user=user)
    if role is not None:
        memberships = memberships.filter(role=role)
    return SchoolUnit.objects.filter(pk__in=memberships.values("unit_id")).order_by("name")


def user_has_role_at_unit(user: AnyUser, role: Role | str, unit: SchoolUnit | int) -> bool:
    if not user.is_authenticated:
        return False
    unit_id = unit.pk if isinstance(unit, SchoolUnit) else unit
    return Membership.objects.filter(user=user, role=role, unit_id=unit_id).exists()


def users_with_role_at_unit(role: Role | str, unit: SchoolUnit | int) -> QuerySet:
    """The people a lane's task goes to at the case's school unit."""
    from django.contrib.auth import get_user_model

    unit_id = unit.pk if isinstance(unit, SchoolUnit) else unit
    return get_user_model().objects.filter(
        memberships__role=role, memberships__unit_id=unit_id, is_active=True
    )


def pupils_visible_to(user: AnyUser) -> QuerySet[Pupil]:
    """Staff see the pupils of the units where they hold a role; guardians see their own children."""
    if not user.is_authenticated:
        return Pupil.objects.none()
    staff_units = Membership.objects.filter(user=user).values("unit_id")
    return (
        Pupil.objects.filter(unit_id__in=staff_units) | Pupil.objects.filter(custodies__guardian__user=user)
    ).distinct()
