"""The process API: process models and their versions (list, detail, deploy, publish, retire) and cases
(start, state, history). One view per operation; each parses input, asks organisation.policy, makes one
selector or service call and serializes the result. Errors are problem+json (common.errors)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import ApplicationError, NotFound, PermissionDenied
from organisation.models import Pupil
from organisation.policy import PersonalDataViewer, may_manage_processes, may_read_processes
from organisation.selectors import units_for_user
from processes.models import ProcessDefinition, ProcessInstance
from processes.selectors import process_instance_get_for_user, process_instance_history, process_version_get
from processes.services.bulk_starts import case_start_for_pupil
from processes.services.instances import process_instance_start
from processes.services.pilots import process_version_for_unit
from processes.services.versions import (
    MAX_BUNDLE_BYTES,
    BundleFiles,
    process_version_deploy,
    process_version_publish,
    process_version_retire,
)
from tasks.models import UserTask

MAX_BUNDLE_ENTRIES = 200


def _require_reader(user: Any) -> None:
    if not may_read_processes(user):
        raise PermissionDenied("process_read_not_allowed", _("Only staff may read process models."))


def _require_owner(user: Any) -> None:
    if not may_manage_processes(user):
        raise PermissionDenied(
            "process_manage_not_allowed", _("Only process owners may deploy, publish or retire versions.")
        )


class VersionOutput(serializers.Serializer):
    process = serializers.CharField(source="definition.key")
    number = serializers.IntegerField()
    status = serializers.CharField()
    content_hash = serializers.CharField()
    main_process_id = serializers.CharField()
    changelog = serializers.CharField()
    created_at = serializers.DateTimeField()
    published_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField()


class VersionDetailOutput(VersionOutput):
    manifest = serializers.JSONField()
    files = serializers.DictField(child=serializers.CharField())
    forms = serializers.JSONField()


class ProcessOutput(serializers.Serializer):
    key = serializers.CharField()
    name_sv = serializers.CharField()
    name_en = serializers.CharField()


class ProcessDetailOutput(ProcessOutput):
    versions = VersionOutput(many=True)


class ProcessListApi(APIView):
    @extend_schema(
        responses=ProcessOutput(many=True), summary="Process models", operation_id="processes_list"
    )
    def get(self, request: Request) -> Response:
        _require_reader(request.user)
        return Response(ProcessOutput(ProcessDefinition.objects.order_by("key"), many=True).data)


class ProcessDetailApi(APIView):
    @extend_schema(responses=ProcessDetailOutput, summary="One process model with its versions")
    def get(self, request: Request, key: str) -> Response:
        _require_reader(request.user)
        definition = ProcessDefinition.objects.filter(key=key).prefetch_related("versions").first()
        if definition is None:
            raise NotFound("process_not_found", _("The process does not exist."))
        return Response(ProcessDetailOutput(definition).data)


class VersionDetailApi(APIView):
    @extend_schema(responses=VersionDetailOutput, summary="One version: manifest, BPMN files and forms")
    def get(self, request: Request, key: str, number: int) -> Response:
        _require_reader(request.user)
        return Response(VersionDetailOutput(process_version_get(key, number)).data)


class ManifestInput(serializers.Serializer):
    key = serializers.SlugField(max_length=64)
    process_id = serializers.CharField(max_length=255)
    name = serializers.DictField(child=serializers.CharField(max_length=200), required=False)
    default_task_due = serializers.RegexField(r"^P[0-9YMWDTHS]+$", max_length=32, required=False)
    calls = serializers.ListField(child=serializers.SlugField(), required=False)


class BundleInput(serializers.Serializer):
    manifest = serializers.DictField(help_text="process.json: key, process_id, name {sv, en}, …")
    files = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        help_text="BPMN and DMN documents by file name, as text",
    )
    forms = serializers.DictField(child=serializers.DictField(), required=False, default=dict)
    changelog = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    def validate_manifest(self, value: dict[str, Any]) -> dict[str, Any]:
        checked = ManifestInput(data=value)
        checked.is_valid(raise_exception=True)
        return value

    def validate_files(self, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise serializers.ValidationError(_("A bundle needs at least one BPMN file."))
        return value


class BundleUploadInput(serializers.Serializer):
    bundle = serializers.FileField(help_text="A .zip: process.json, model.bpmn, forms/*.json, *.dmn")
    changelog = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


def _bundle_invalid(message: str) -> ApplicationError:
    return ApplicationError("bundle_invalid", message, status=422, problems=[])


def bundle_from_zip(data: bytes) -> dict[str, Any]:
    """The JSON bundle shape from an uploaded .zip, refusing archives that expand past the size limit
    (checked from the directory before anything is decompressed) or hold too many entries."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise _bundle_invalid(_("The upload is not a .zip archive.")) from exc
    entries = [info for info in archive.infolist() if not info.is_dir()]
    if len(entries) > MAX_BUNDLE_ENTRIES or sum(info.file_size for info in entries) > MAX_BUNDLE_BYTES:
        raise ApplicationError("bundle_too_large", _("The process files are larger than 2 MB."), status=413)
    manifest: Any = None
    files: dict[str, str] = {}
    forms: dict[str, Any] = {}
    try:
        for info in entries:
            name = info.filename
            text = archive.read(info).decode("utf-8")
            if name == "process.json":
                manifest = json.loads(text)
            elif name.startswith("forms/") and name.endswith(".json") and name.count("/") == 1:
                forms[name.removeprefix("forms/")] = json.loads(text)
            elif name.count("/") == 0 and name.endswith((".bpmn", ".dmn")):
                files[name] = text
    except (UnicodeDecodeError, json.JSONDecodeError, zipfile.BadZipFile, RuntimeError, ValueError) as exc:
        raise _bundle_invalid(_("The archive holds a file that is not UTF-8 JSON or XML.")) from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("key"), str):
        raise _bundle_invalid(_("The archive has no process.json with a key."))
    if "model.bpmn" in files:
        files[f"{manifest['key']}.bpmn"] = files.pop("model.bpmn")
    return {"manifest": manifest, "files": files, "forms": forms}


class VersionDeployApi(APIView):
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        request={"application/json": BundleInput, "multipart/form-data": BundleUploadInput},
        responses={201: VersionOutput, 200: VersionOutput},
        summary="Deploy a bundle as a draft version (200 when the same content is already deployed; "
        "422 bundle_invalid with every problem, 413 bundle_too_large)",
    )
    def post(self, request: Request, key: str) -> Response:
        _require_owner(request.user)
        if request.content_type.startswith("multipart/"):
            upload = BundleUploadInput(data=request.data)
            upload.is_valid(raise_exception=True)
            raw = upload.validated_data["bundle"]
            if raw.size > MAX_BUNDLE_BYTES:
                raise ApplicationError(
                    "bundle_too_large", _("The process files are larger than 2 MB."), status=413
                )
            payload = BundleInput(
                data={**bundle_from_zip(raw.read()), "changelog": upload.validated_data["changelog"]}
            )
        else:
            payload = BundleInput(data=request.data)
        payload.is_valid(raise_exception=True)
        bundle = payload.validated_data
        if bundle["manifest"]["key"] != key:
            raise ApplicationError(
                "bundle_key_mismatch", _("The manifest's key is not the process in the URL.")
            )
        version, created = process_version_deploy(
            BundleFiles(manifest=bundle["manifest"], files=bundle["files"], forms=bundle["forms"]),
            author=request.user,
            changelog=bundle["changelog"],
        )
        return Response(VersionOutput(version).data, status=201 if created else 200)


class VersionPublishApi(APIView):
    @extend_schema(
        request=None, responses=VersionOutput, summary="Publish a draft version (409 if not a draft)"
    )
    def post(self, request: Request, key: str, number: int) -> Response:
        _require_owner(request.user)
        version = process_version_publish(process_version_get(key, number), actor=request.user)
        return Response(VersionOutput(version).data)


class VersionRetireApi(APIView):
    @extend_schema(request=None, responses=VersionOutput, summary="Retire a published version")
    def post(self, request: Request, key: str, number: int) -> Response:
        _require_owner(request.user)
        version = process_version_retire(process_version_get(key, number), actor=request.user)
        return Response(VersionOutput(version).data)


class OpenTaskOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    element_id = serializers.CharField()
    lane = serializers.CharField()
    due_at = serializers.DateTimeField()
    claimed = serializers.SerializerMethodField()

    def get_claimed(self, task: UserTask) -> bool:
        return task.claimed_by_id is not None


class TimerOutput(serializers.Serializer):
    element_id = serializers.CharField()
    element_name = serializers.CharField()
    kind = serializers.CharField()
    due_at = serializers.DateTimeField()


class CaseOutput(serializers.Serializer):
    id = serializers.UUIDField()
    process = serializers.CharField(source="version.definition.key")
    version = serializers.IntegerField(source="version.number")
    unit = serializers.CharField(source="unit.name")
    pupil = serializers.SerializerMethodField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField()

    def get_pupil(self, instance: ProcessInstance) -> str:
        return self.context["viewer"].name(instance.pupil)


class CaseStateOutput(CaseOutput):
    open_tasks = serializers.SerializerMethodField()
    waiting_timers = serializers.SerializerMethodField()
    waiting_messages = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    @extend_schema_field(OpenTaskOutput(many=True))
    def get_open_tasks(self, instance: ProcessInstance) -> list[dict[str, Any]]:
        tasks = instance.user_tasks.filter(status=UserTask.Status.OPEN).order_by("ready_at", "pk")
        return OpenTaskOutput(tasks, many=True).data

    @extend_schema_field(TimerOutput(many=True))
    def get_waiting_timers(self, instance: ProcessInstance) -> list[dict[str, Any]]:
        return TimerOutput(instance.timers.order_by("due_at", "pk"), many=True).data

    def get_waiting_messages(self, instance: ProcessInstance) -> list[str]:
        return sorted(set(instance.subscriptions.values_list("message_name", flat=True)))

    def get_error(self, instance: ProcessInstance) -> dict[str, str] | None:
        if instance.status != ProcessInstance.Status.ERROR:
            return None
        return {"code": instance.error_code, "element_id": instance.error_element_id}


class CaseStartApi(APIView):
    class CaseStartInput(serializers.Serializer):
        process = serializers.SlugField(max_length=64)
        pupil = serializers.IntegerField(
            required=False, allow_null=True, default=None, min_value=1, max_value=2**63 - 1
        )
        unit = serializers.IntegerField(
            required=False, allow_null=True, default=None, min_value=1, max_value=2**63 - 1
        )
        subject = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)

    @extend_schema(
        request=CaseStartInput,
        responses={201: CaseStateOutput},
        summary="Start a case of the current published version, for a pupil or at a unit",
    )
    def post(self, request: Request) -> Response:
        payload = self.CaseStartInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if data["pupil"] is not None:
            pupil = Pupil.objects.select_related("unit").filter(pk=data["pupil"]).first()
            if pupil is None or not units_for_user(request.user).filter(pk=pupil.unit_id).exists():
                raise NotFound(
                    "pupil_not_found", _("The pupil does not exist or is not at your school units.")
                )
            instance = case_start_for_pupil(user=request.user, key=data["process"], pupil=pupil)
        else:
            unit = units_for_user(request.user).filter(pk=data["unit"]).first() if data["unit"] else None
            if unit is None:
                raise ApplicationError("unit_required", _("Choose a pupil, or a school unit where you work."))
            instance = process_instance_start(
                version=process_version_for_unit(data["process"], unit),
                unit=unit,
                initiator=request.user,
                subject=data["subject"],
            )
        instance = process_instance_get_for_user(request.user, instance.pk)
        context = {"viewer": PersonalDataViewer(request.user)}
        return Response(CaseStateOutput(instance, context=context).data, status=status.HTTP_201_CREATED)


class CaseStateApi(APIView):
    @extend_schema(
        responses=CaseStateOutput, summary="A case's state: open tasks, waiting timers and messages"
    )
    def get(self, request: Request, case_id: str) -> Response:
        instance = process_instance_get_for_user(request.user, case_id)
        return Response(CaseStateOutput(instance, context={"viewer": PersonalDataViewer(request.user)}).data)


class CaseEventOutput(serializers.Serializer):
    occurred_at = serializers.DateTimeField()
    verb = serializers.CharField()
    actor = serializers.CharField(source="actor_label")
    element_id = serializers.CharField()
    element_name = serializers.CharField()
    lane = serializers.CharField()


class CaseHistoryApi(APIView):
    @extend_schema(
        responses=CaseEventOutput(many=True),
        summary="A case's history (staff at the case's unit): who did what, and when",
    )
    def get(self, request: Request, case_id: str) -> Response:
        instance = process_instance_get_for_user(request.user, case_id, history=True)
        return Response(CaseEventOutput(process_instance_history(instance), many=True).data)
