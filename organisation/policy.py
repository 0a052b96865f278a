"""Who may see a pupil's personal data. Views, APIs, selectors and exports all ask here."""

from __future__ import annotations

from organisation import personnummer
from organisation.models import Membership, Pupil
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
