"""Login attempts: the failure throttle (per username and IP, in the cache) and the login record."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from accounts.models import LoginEvent


def client_ip(request: HttpRequest | None) -> str | None:
    """The peer address. Behind the reverse proxy this is the proxy unless gunicorn is told to trust
    X-Forwarded-For (forwarded_allow_ips), which is where that decision belongs."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _key(username: str, ip: str | None) -> str:
    digest = hashlib.sha256(f"{username.strip().lower()}|{ip or '-'}".encode()).hexdigest()
    return f"login-failures:{digest}"


def login_locked(username: str, ip: str | None) -> bool:
    """True while `username` from `ip` has LOGIN_FAILURE_LIMIT failures within LOGIN_LOCKOUT_SECONDS."""
    return int(cache.get(_key(username, ip), 0)) >= settings.LOGIN_FAILURE_LIMIT


def login_failure_register(username: str, ip: str | None) -> int:
    """Count one failure; the window starts at the first failure and lasts LOGIN_LOCKOUT_SECONDS."""
    key = _key(username, ip)
    cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        return 1


def login_failures_reset(username: str, ip: str | None) -> None:
    cache.delete(_key(username, ip))


def login_event_record(
    *,
    request: HttpRequest | None,
    success: bool,
    method: str,
    user: Any = None,
    username: str = "",
    reason: str = "",
) -> LoginEvent:
    return LoginEvent.objects.create(
        user=user if getattr(user, "pk", None) else None,
        username=(username or getattr(user, "username", "") or "")[:150],
        ip=client_ip(request),
        success=success,
        method=method,
        reason=reason,
    )
