"""Reads of a person's in-app notifications. Only ever the asking user's own."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from tasks.models import Notification


def notifications_for_user(user: Any, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's notifications, newest first (none for an anonymous user)."""
    if not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    notifications = Notification.objects.filter(user=user)
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications.select_related("user_task").order_by("-created_at", "-pk")


def notification_unread_count(user: Any) -> int:
    """How many of the user's notifications are unread (one indexed COUNT)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
