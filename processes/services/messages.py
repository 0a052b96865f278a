"""Messages from outside (a guardian's reply, another office's decision) reach the waiting case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from audit.models import Verb
from audit.services import audit_event_record
from common.errors import ApplicationError
from processes.engine import EngineError
from processes.models import MessageSubscription, ReceivedMessage
from processes.services.instances import (
    correlation_key,
    engine_error_to_application,
    instance_error_record,
    instance_lock,
    instance_persist,
    instance_workflow,
)


@dataclass(frozen=True)
class MessageOutcome:
    outcome: str  # delivered | duplicate
    instance_id: Any


def message_deliver(
    *,
    message_id: str,
    name: str,
    correlation: Mapping[str, Any],
    payload: Mapping[str, Any] | None = None,
    actor: Any = None,
) -> MessageOutcome:
    """Deliver a message once. A repeated message id answers `duplicate` and changes nothing.

    Raises ApplicationError `message_unknown` (404) when no case waits for that name and key; the
    refusal is remembered so a redelivery gets the same answer.
    """
    previous = ReceivedMessage.objects.filter(message_id=message_id).first()
    if previous is not None:
        return MessageOutcome("duplicate", previous.instance_id)
    key = correlation_key(correlation)
    body = dict(payload or {})
    subscription = None
    try:
        with transaction.atomic():
            subscription = (
                MessageSubscription.objects.filter(message_name=name, correlation_key=key)
                .order_by("id")
                .first()
            )
            if subscription is not None:
                instance = instance_lock(subscription.instance_id)
                workflow = instance_workflow(instance)
                if workflow.send_message(name, body, dict(correlation)):
                    ReceivedMessage.objects.create(
                        message_id=message_id,
                        message_name=name,
                        correlation_key=key,
                        payload=body,
                        instance=instance,
                        outcome=ReceivedMessage.Outcome.DELIVERED,
                    )
                    audit_event_record(
                        Verb.MESSAGE_RECEIVED,
                        actor=actor,
                        unit_id=instance.unit_id,
                        instance_id=instance.pk,
                        element_id=name,
                        after={"message_id": message_id},
                    )
                    instance_persist(instance, workflow, actor=actor)
                    return MessageOutcome("delivered", instance.pk)
        # Nobody took it: remember the refusal so a redelivery gets the same answer.
        ReceivedMessage.objects.create(
            message_id=message_id,
            message_name=name,
            correlation_key=key,
            payload=body,
            outcome=ReceivedMessage.Outcome.UNKNOWN,
        )
    except IntegrityError:
        # The same message id arrived twice at the same moment; the first one won.
        return MessageOutcome("duplicate", ReceivedMessage.objects.get(message_id=message_id).instance_id)
    except EngineError as exc:
        instance_error_record(subscription.instance, exc, actor)
        raise engine_error_to_application(exc) from exc
    raise ApplicationError(
        "message_unknown", _("No case is waiting for the message %(name)s.") % {"name": name}, status=404
    )
