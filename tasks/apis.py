"""The task API: inbox, one task, claim and release, draft and complete. One view per operation;
each parses input, makes one selector or service call and serializes the result. Errors are
problem+json (common.errors) with stable codes."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from organisation.policy import PersonalDataViewer
from tasks.models import UserTask
from tasks.selectors import INBOX_TABS, InboxFilters, user_task_get_for_user, user_task_inbox
from tasks.services.assignment import user_task_claim, user_task_draft_save, user_task_unclaim
from tasks.services.user_tasks import user_task_complete, user_task_form_schema


class TaskOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    element_id = serializers.CharField()
    lane = serializers.CharField()
    process = serializers.CharField(source="instance.version.definition.key")
    version = serializers.IntegerField(source="instance.version.number")
    case_id = serializers.UUIDField(source="instance_id")
    unit = serializers.CharField(source="unit.name")
    pupil = serializers.SerializerMethodField()
    status = serializers.CharField()
    ready_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    overdue = serializers.SerializerMethodField()
    claimed_by = serializers.CharField(source="claimed_by.username", default=None)

    def get_pupil(self, task: UserTask) -> str:
        return self.context["viewer"].name(task.instance.pupil)

    def get_overdue(self, task: UserTask) -> bool:
        return (
            task.status == UserTask.Status.OPEN and task.due_at is not None and task.due_at < timezone.now()
        )


class TaskDetailOutput(TaskOutput):
    form = serializers.SerializerMethodField()
    prefill = serializers.JSONField()
    draft = serializers.JSONField()

    def get_form(self, task: UserTask) -> dict | None:
        return user_task_form_schema(task)


class InboxApi(APIView):
    class FilterInput(serializers.Serializer):
        tab = serializers.ChoiceField(choices=INBOX_TABS, default="mine")
        process = serializers.CharField(required=False, default="")
        unit = serializers.IntegerField(required=False, allow_null=True, default=None, max_value=2**63 - 1)
        overdue = serializers.BooleanField(required=False, default=False)
        page = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000, default=1)

    class InboxOutput(serializers.Serializer):
        count = serializers.IntegerField()
        page = serializers.IntegerField()
        pages = serializers.IntegerField()
        results = TaskOutput(many=True)

    @extend_schema(
        parameters=[FilterInput], responses=InboxOutput, summary="My inbox", operation_id="tasks_inbox"
    )
    def get(self, request: Request) -> Response:
        params = self.FilterInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        page = user_task_inbox(
            request.user,
            InboxFilters(
                tab=query["tab"], process=query["process"], unit=query["unit"], overdue_only=query["overdue"]
            ),
            query["page"],
        )
        context = {"viewer": PersonalDataViewer(request.user)}
        return Response(
            {
                "count": page.paginator.count,
                "page": page.number,
                "pages": page.paginator.num_pages,
                "results": TaskOutput(page.object_list, many=True, context=context).data,
            }
        )


class TaskDetailApi(APIView):
    @extend_schema(responses=TaskDetailOutput, summary="One task with its form", operation_id="tasks_detail")
    def get(self, request: Request, task_id: int) -> Response:
        task = user_task_get_for_user(request.user, task_id)
        return Response(TaskDetailOutput(task, context={"viewer": PersonalDataViewer(request.user)}).data)


class TaskClaimApi(APIView):
    @extend_schema(request=None, responses=TaskOutput, summary="Take an unclaimed task")
    def post(self, request: Request, task_id: int) -> Response:
        task = user_task_claim(user_task_get_for_user(request.user, task_id), user=request.user)
        return Response(TaskOutput(task, context={"viewer": PersonalDataViewer(request.user)}).data)


class TaskUnclaimApi(APIView):
    @extend_schema(request=None, responses=TaskOutput, summary="Give a task back to the team")
    def post(self, request: Request, task_id: int) -> Response:
        task = user_task_unclaim(user_task_get_for_user(request.user, task_id), user=request.user)
        return Response(TaskOutput(task, context={"viewer": PersonalDataViewer(request.user)}).data)


class FormDataInput(serializers.Serializer):
    data = serializers.DictField(help_text="The form's fields, validated against the task's JSON Schema")


class TaskDraftApi(APIView):
    @extend_schema(request=FormDataInput, responses={204: None}, summary="Save unfinished form data")
    def post(self, request: Request, task_id: int) -> Response:
        payload = FormDataInput(data=request.data)
        payload.is_valid(raise_exception=True)
        user_task_draft_save(
            user_task_get_for_user(request.user, task_id),
            user=request.user,
            data=payload.validated_data["data"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskCompleteApi(APIView):
    class Output(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        case_id = serializers.UUIDField(source="instance_id")

    @extend_schema(
        request=FormDataInput,
        responses=Output,
        summary="Complete a task (422 form_invalid with errors per field, 409 task_not_open)",
    )
    def post(self, request: Request, task_id: int) -> Response:
        payload = FormDataInput(data=request.data)
        payload.is_valid(raise_exception=True)
        task = user_task_get_for_user(request.user, task_id)
        done = user_task_complete(
            task_id=task.pk, user=request.user, data=payload.validated_data["data"], loaded=task
        )
        return Response(self.Output(done).data)
