"""Who logged in (or failed to), how people are linked to an OpenID Connect provider, and the
GDPR requests handled for a pupil. Rows here are written by accounts.services only."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LoginEvent(models.Model):
    class Method(models.TextChoices):
        PASSWORD = "password", _("Password")
        OIDC = "oidc", _("OpenID Connect")

    class Reason(models.TextChoices):
        OK = "", _("Logged in")
        BAD_CREDENTIALS = "bad_credentials", _("Wrong username or password")
        LOCKED = "locked", _("Locked after too many failures")
        UNKNOWN_IDENTITY = "unknown_identity", _("No account for the identity")

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(_("username tried"), max_length=150, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    success = models.BooleanField(_("success"))
    method = models.CharField(_("method"), max_length=16, choices=Method.choices)
    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices, blank=True)

    class Meta:
        verbose_name = _("login event")
        verbose_name_plural = _("login events")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["username", "at"], name="login_event_username_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {'ok' if self.success else self.reason}"


class OidcIdentity(models.Model):
    """The provider's subject (`sub`) of an existing user, linked on the first OIDC login by e-mail."""

    subject = models.CharField(_("subject"), max_length=255, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identities"
    )
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("OIDC identity")
        verbose_name_plural = _("OIDC identities")

    def __str__(self) -> str:
        return f"{self.subject} → {self.user_id}"


class DataSubjectRequest(models.Model):
    """An access, rectification or erasure request handled for a pupil (GDPR art. 15–17)."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access (export)")
        RECTIFICATION = "rectification", _("Rectification")
        ERASURE = "erasure", _("Erasure")

    class Outcome(models.TextChoices):
        DONE = "done", _("Done")
        REFUSED = "refused", _("Refused")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    pupil_id_ref = models.BigIntegerField(_("pupil"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detail = models.JSONField(default=dict, blank=True, help_text="Which fields changed, or why refused")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("data subject request")
        verbose_name_plural = _("data subject requests")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.pupil_id_ref} {self.outcome}"
