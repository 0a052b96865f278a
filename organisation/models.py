"""Who works where, and which pupils belong to which school unit.

A permission in Skolflöde is a role at a school unit: a lane in a process model is a role, and a task
goes to people holding that role at the unit of the case.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from organisation import personnummer


class Role(models.TextChoices):
    """The lanes of the process library (docs/conventions.md). Codes are stable identifiers."""

    GUARDIAN = "guardian", _("Guardian")
    PUPIL = "pupil", _("Pupil")
    TEACHER = "teacher", _("Teacher")
    SCHOOL_ADMIN = "school_admin", _("School administrator")
    PRINCIPAL = "principal", _("Principal")
    STUDENT_HEALTH = "student_health", _("Student health team")
    PLACEMENT_OFFICE = "placement_office", _("Placement office")
    GOVERNING_BODY = "governing_body", _("Governing body")
    RECEIVING_SCHOOL = "receiving_school", _("Receiving school")
    SENDING_SCHOOL = "sending_school", _("Sending school")


# Roles a member of staff can hold through a Membership. Guardians and pupils are people in the
# registry (Guardian, Pupil), not memberships.
STAFF_ROLES = [r for r in Role if r not in (Role.GUARDIAN, Role.PUPIL)]


def validate_personnummer(value: str) -> None:
    try:
        personnummer.parse(value)
    except personnummer.InvalidPersonnummer as exc:
        raise ValidationError(str(exc), code="invalid_personnummer") from exc


class Municipality(models.Model):
    code = models.CharField(_("municipality code"), max_length=4, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("municipality")
        verbose_name_plural = _("municipalities")

    def __str__(self) -> str:
        return self.name


class SchoolUnit(models.Model):
    class Kind(models.TextChoices):
        PRESCHOOL = "forskola", _("Preschool")
        COMPULSORY = "grundskola", _("Compulsory school")
        UPPER_SECONDARY = "gymnasium", _("Upper secondary school")

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="units")
    code = models.CharField(_("school unit code"), max_length=8, unique=True)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)

    class Meta:
        verbose_name = _("school unit")
        verbose_name_plural = _("school units")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    unit = models.ForeignKey(SchoolUnit, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "unit", "role"], name="membership_unique_role_at_unit"),
            models.CheckConstraint(
                condition=~models.Q(role__in=[Role.GUARDIAN, Role.PUPIL]), name="membership_staff_role_only"
            ),
        ]
        indexes = [models.Index(fields=["unit", "role"], name="membership_unit_role")]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_role_display()} @ {self.unit}"


class Person(models.Model):
    personnummer = models.CharField(
        _("personal identity number"), max_length=12, unique=True, validators=[validate_personnummer]
    )
    first_name = models.CharField(_("first name"), max_length=80)
    last_name = models.CharField(_("last name"), max_length=80)

    class Meta:
        abstract = True

    def save(self, *args: object, **kwargs: object) -> None:
        self.personnummer = personnummer.normalise(self.personnummer)
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def masked_personnummer(self) -> str:
        return personnummer.mask(self.personnummer)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Guardian(Person):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="guardian"
    )
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("guardian")
        verbose_name_plural = _("guardians")

    def __str__(self) -> str:
        return self.full_name


class Pupil(Person):
    # Older pupils take part in some steps themselves (their views on an action programme).
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="pupil"
    )
    unit = models.ForeignKey(SchoolUnit, on_delete=models.PROTECT, related_name="pupils")
    grade = models.CharField(_("grade"), max_length=4, blank=True)
    guardians = models.ManyToManyField(Guardian, through="Custody", related_name="children")

    class Meta:
        verbose_name = _("pupil")
        verbose_name_plural = _("pupils")

    def __str__(self) -> str:
        return self.full_name


class Custody(models.Model):
    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="custodies")
    guardian = models.ForeignKey(Guardian, on_delete=models.CASCADE, related_name="custodies")
    has_custody = models.BooleanField(_("has custody"), default=True)

    class Meta:
        verbose_name = _("custody")
        verbose_name_plural = _("custodies")
        constraints = [models.UniqueConstraint(fields=["pupil", "guardian"], name="custody_unique_pair")]

    def __str__(self) -> str:
        return f"{self.guardian} → {self.pupil}"
