"""Who may see a pupil's personal data. Views, APIs, selectors and exports all ask here."""

from __future__ import annotations

from organisation import personnummer
from organisation.models import Membership, Pupil, Role
from organisation.selectors import AnyUser


def can_view_personal_data(user: AnyUser, pupil: Pupil) -> bool:
    """Entitled: staff holding any role at the pupil's unit, and the pupil's own guardians."""
    if not user.is_authenticated:
        return False
    if Membership.objects.filter(user=user, unit_id=pupil.unit_id).exists():
        return True
    return pupil.custodies.filter(guardian__user=user).exists()


def personnummer_for_viewer(user: AnyUser, pupil: Pupil) -> str:
    if can_view_personal_data(user, pupil):
        return pupil.personnummer[:8] + "-" + pupil.personnummer[8:]
    return personnummer.mask(pupil.personnummer)


def name_for_viewer(user: AnyUser, pupil: Pupil) -> str:
    if can_view_personal_data(user, pupil):
        return pupil.full_name
    return f"{pupil.first_name[:1]}. {pupil.last_name[:1]}."


class PersonalDataViewer:
    """The same rules as can_view_personal_data, answered for many pupils with two queries in total
    (an inbox page lists many cases)."""

    def __init__(self, user: AnyUser) -> None:
        self.user = user
        if user.is_authenticated:
            self.units = set(Membership.objects.filter(user=user).values_list("unit_id", flat=True))
            self.children = set(
                Pupil.objects.filter(custodies__guardian__user=user).values_list("pk", flat=True)
            )
        else:
            self.units, self.children = set(), set()

    def entitled(self, pupil: Pupil | None) -> bool:
        return pupil is not None and (pupil.unit_id in self.units or pupil.pk in self.children)

    def name(self, pupil: Pupil | None) -> str:
        if pupil is None:
            return ""
        return pupil.full_name if self.entitled(pupil) else f"{pupil.first_name[:1]}. {pupil.last_name[:1]}."

    def personnummer(self, pupil: Pupil | None) -> str:
        if pupil is None:
            return ""
        if self.entitled(pupil):
            return pupil.personnummer[:8] + "-" + pupil.personnummer[8:]
        return personnummer.mask(pupil.personnummer)


def is_staff_member(user: AnyUser) -> bool:
    """Holds a role at some school unit (a teacher, principal, …), as opposed to a guardian or pupil."""
    return user.is_authenticated and Membership.objects.filter(user=user).exists()


def may_manage_processes(user: AnyUser | None) -> bool:
    """Process owners (the `processes.manage_process` permission, directly or through a group) model,
    deploy, publish, pilot and migrate processes; nobody else may."""
    return bool(user is not None and user.is_authenticated and user.has_perm("processes.manage_process"))


def may_read_processes(user: AnyUser) -> bool:
    """Process models are not personal data: any member of staff and every process owner may read them."""
    return is_staff_member(user) or may_manage_processes(user)


def may_see_case(user: AnyUser, unit_id: int, pupil: Pupil | None) -> bool:
    """A case's state: staff holding any role at the case's unit, and the guardians of its pupil."""
    if not user.is_authenticated:
        return False
    if Membership.objects.filter(user=user, unit_id=unit_id).exists():
        return True
    return pupil is not None and pupil.custodies.filter(guardian__user=user).exists()


def may_see_case_history(user: AnyUser, unit_id: int) -> bool:
    """Who did what in a case: staff at the case's unit only."""
    return user.is_authenticated and Membership.objects.filter(user=user, unit_id=unit_id).exists()


def may_handle_data_subject_requests(user: AnyUser, pupil: Pupil) -> bool:
    """Access, rectification and erasure requests (GDPR art. 15–17) are the governing body's: a member
    holding that role at any unit of the pupil's municipality."""
    return (
        user.is_authenticated
        and Membership.objects.filter(
            user=user, role=Role.GOVERNING_BODY, unit__municipality_id=pupil.unit.municipality_id
        ).exists()
    )
