"""The process owners' API: pilots, diffs and migrations. One view per operation; every view refuses
anyone who is not a process owner (403, problem+json)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import NotFound
from organisation.models import SchoolUnit
from organisation.policy import may_manage_processes
from processes.models import Pilot, ProcessDraft, ProcessVersion
from processes.selectors import (
    migration_job_get,
    process_definition_get,
    process_draft_get,
    process_version_by_id,
)
from processes.services.diff import process_diff
from processes.services.migration import instance_migration_undo, migration_job_request, migration_plan
from processes.services.pilots import pilot_create, pilot_end


class IsProcessOwner(BasePermission):
    message = _("Only process owners may do this.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return may_manage_processes(request.user)


class OwnerApi(APIView):
    permission_classes = [IsAuthenticated, IsProcessOwner]


def _version_of(key: str, version_id: int) -> ProcessVersion:
    version = process_version_by_id(version_id)
    if version.definition.key != key:
        raise NotFound("version_not_found", _("The version does not exist."))
    return version


class PilotOutput(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number")
    version_id = serializers.IntegerField()
    unit = serializers.CharField(source="unit.code")

    class Meta:
        model = Pilot
        fields = ["id", "version", "version_id", "unit", "starts_on", "ends_on"]


class DiffOutput(serializers.Serializer):
    changes = serializers.ListField(child=serializers.DictField())
    added = serializers.ListField(child=serializers.CharField())
    changed = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())


class MigrationPlanOutput(serializers.Serializer):
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    movable = serializers.ListField(child=serializers.DictField())
    blocked = serializers.ListField(child=serializers.DictField())


class MigrationJobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    migrated = serializers.IntegerField(required=False)
    skipped = serializers.DictField(required=False)


class MigrationUndoOutput(serializers.Serializer):
    case_id = serializers.UUIDField()
    version = serializers.IntegerField()


class PilotListApi(OwnerApi):
    class Input(serializers.Serializer):
        version_id = serializers.IntegerField()
        unit = serializers.CharField(help_text="school unit code")
        starts_on = serializers.DateField()
        ends_on = serializers.DateField(required=False, allow_null=True, default=None)

    @extend_schema(responses=PilotOutput(many=True), summary="Pilots of a process (process owners)")
    def get(self, request: Request, key: str) -> Response:
        definition = process_definition_get(key)
        pilots = Pilot.objects.filter(version__definition=definition).select_related("version", "unit")
        return Response(PilotOutput(pilots, many=True).data)

    @extend_schema(request=Input, responses={201: PilotOutput}, summary="Pilot a published version at a unit")
    def post(self, request: Request, key: str) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        unit = SchoolUnit.objects.filter(code=data.validated_data["unit"]).first()
        if unit is None:
            raise NotFound("unit_not_found", _("The school unit does not exist."))
        pilot = pilot_create(
            version=_version_of(key, data.validated_data["version_id"]),
            unit=unit,
            starts_on=data.validated_data["starts_on"],
            ends_on=data.validated_data["ends_on"],
            actor=request.user,
        )
        return Response(PilotOutput(pilot).data, status=status.HTTP_201_CREATED)


class PilotEndApi(OwnerApi):
    @extend_schema(request=None, responses=PilotOutput, summary="End a pilot today")
    def post(self, request: Request, pilot_id: int) -> Response:
        pilot = Pilot.objects.select_related("version", "unit").filter(pk=pilot_id).first()
        if pilot is None:
            raise NotFound("pilot_not_found", _("The pilot does not exist."))
        return Response(PilotOutput(pilot_end(pilot, actor=request.user)).data)


def _ref(key: str, ref: str) -> ProcessVersion | ProcessDraft:
    kind, number = ref[:1], ref[1:]
    if kind == "v" and number.isdigit():
        return _version_of(key, int(number))
    if kind == "d" and number.isdigit():
        draft = process_draft_get(int(number))
        if draft.key == key:
            return draft
    raise NotFound("source_not_found", _("Give from/to as v<version id> or d<draft id>."))


class DiffApi(OwnerApi):
    @extend_schema(
        responses=DiffOutput, summary="Structural diff of two versions/drafts (from=v<id>&to=d<id>)"
    )
    def get(self, request: Request, key: str) -> Response:
        old = _ref(key, request.query_params.get("from", ""))
        new = _ref(key, request.query_params.get("to", ""))
        return Response(process_diff(old, new).as_dict())


class MigrationInput(serializers.Serializer):
    from_version_id = serializers.IntegerField()
    to_version_id = serializers.IntegerField()


class MigrationPlanApi(OwnerApi):
    @extend_schema(
        parameters=[MigrationInput], responses=MigrationPlanOutput, summary="Dry run of a migration"
    )
    def get(self, request: Request, key: str) -> Response:
        data = MigrationInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        plan = migration_plan(
            _version_of(key, data.validated_data["from_version_id"]),
            _version_of(key, data.validated_data["to_version_id"]),
            actor=request.user,
        )
        return Response(plan.as_dict())


class MigrationJobApi(OwnerApi):
    @extend_schema(
        request=MigrationInput,
        responses={202: MigrationJobOutput},
        summary="Move every running case that can move, as a background job",
    )
    def post(self, request: Request, key: str) -> Response:
        data = MigrationInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = migration_job_request(
            _version_of(key, data.validated_data["from_version_id"]),
            _version_of(key, data.validated_data["to_version_id"]),
            actor=request.user,
        )
        return Response({"id": job.pk, "status": job.status, "total": job.total}, status=202)


class MigrationJobDetailApi(OwnerApi):
    @extend_schema(responses=MigrationJobOutput, summary="Progress of a migration job")
    def get(self, request: Request, job_id: int) -> Response:
        job = migration_job_get(job_id)
        return Response(
            {
                "id": job.pk,
                "status": job.status,
                "total": job.total,
                "migrated": job.migrated_count,
                "skipped": job.skipped,
            }
        )


class MigrationUndoApi(OwnerApi):
    @extend_schema(
        request=None,
        responses={200: MigrationUndoOutput, 409: OpenApiResponse(description="instance_moved_on")},
        summary="Put a migrated case back on its previous version",
    )
    def post(self, request: Request, migration_id: int) -> Response:
        instance = instance_migration_undo(migration_id, actor=request.user)
        return Response({"case_id": str(instance.pk), "version": instance.version.number})
