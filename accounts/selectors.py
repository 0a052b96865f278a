"""The pupil a data-subject request is about, if the caller may handle it."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from common.errors import NotFound
from organisation.models import Pupil
from organisation.policy import may_handle_data_subject_requests


def pupil_get_for_data_subject_request(user: Any, pupil_id: int) -> Pupil:
    """NotFound unless the user is the governing body of the pupil's municipality (the id's existence
    is not revealed to anybody else)."""
    pupil = Pupil.objects.select_related("unit").filter(pk=pupil_id).first()
    if pupil is None or not may_handle_data_subject_requests(user, pupil):
        raise NotFound("pupil_not_found", _("The pupil does not exist or you may not handle their data."))
    return pupil
