"""Data-subject requests for a pupil, for the governing body: export, rectification, erasure."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import pupil_get_for_data_subject_request
from accounts.services.data_subjects import pupil_data_export, pupil_erase, pupil_rectify


class PupilOutput(serializers.Serializer):
    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    grade = serializers.CharField()


class PupilExportApi(APIView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="Everything held about a pupil, for an access request (audited read)",
    )
    def get(self, request: Request, pupil_id: int) -> Response:
        pupil = pupil_get_for_data_subject_request(request.user, pupil_id)
        return Response(pupil_data_export(pupil, actor=request.user))


class PupilRectifyApi(APIView):
    class PupilRectifyInput(serializers.Serializer):
        first_name = serializers.CharField(required=False, max_length=80)
        last_name = serializers.CharField(required=False, max_length=80)
        grade = serializers.CharField(required=False, allow_blank=True, max_length=4)

    @extend_schema(
        request=PupilRectifyInput, responses=PupilOutput, summary="Correct a pupil's name or grade"
    )
    def patch(self, request: Request, pupil_id: int) -> Response:
        pupil = pupil_get_for_data_subject_request(request.user, pupil_id)
        payload = self.PupilRectifyInput(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        pupil = pupil_rectify(pupil, actor=request.user, changes=dict(payload.validated_data))
        return Response(PupilOutput(pupil).data)


class PupilEraseApi(APIView):
    @extend_schema(
        request=None,
        responses=PupilOutput,
        summary="Pseudonymise a pupil (409 case_open or retention_period while that is not allowed)",
    )
    def post(self, request: Request, pupil_id: int) -> Response:
        pupil = pupil_get_for_data_subject_request(request.user, pupil_id)
        return Response(PupilOutput(pupil_erase(pupil, actor=request.user)).data)
