"""Template context for every page: the unread notification count in the main menu."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.http import HttpRequest

from tasks.notification_selectors import notification_unread_count


def notifications(request: HttpRequest) -> dict[str, Any]:
    if not request.user.is_authenticated:
        return {}
    # A callable: the template calls it, so pages that do not show the count run no query.
    return {"unread_notifications": partial(notification_unread_count, request.user)}
