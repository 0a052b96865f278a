"""The engine's notion of "now".

SpiffWorkflow's timer code calls ``datetime.now(timezone.utc)`` directly. To honour the ``now=``
arguments of the public API without a global monkeypatch of ``datetime`` we swap the ``datetime``
name inside SpiffWorkflow's timer module for a subclass whose ``now()`` consults a context
variable. With no override it is the real clock, so time-machine in tests keeps working.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer

_override: ContextVar[datetime | None] = ContextVar("skolflode_engine_now", default=None)


class _EngineDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _EngineDatetime:
        fixed = _override.get()
        if fixed is None:
            return super().now(tz)
        value = fixed.astimezone(tz) if tz is not None else fixed.astimezone().replace(tzinfo=None)
        return cls(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            value.tzinfo,
        )


_spiff_timer.datetime = _EngineDatetime  # type: ignore[misc]


def now() -> datetime:
    """Current UTC time, honouring an active :func:`frozen` override."""
    fixed = _override.get()
    return fixed.astimezone(UTC) if fixed is not None else datetime.now(UTC)


@contextlib.contextmanager
def frozen(at: datetime | None) -> Iterator[None]:
    """Run the engine as if the time were ``at`` (aware); ``None`` means the real clock."""
    if at is None:
        yield
        return
    if at.tzinfo is None:
        raise ValueError("now= must be timezone-aware")
    token = _override.set(at)
    try:
        yield
    finally:
        _override.reset(token)
