"""The dashboard figures as JSON: a thin API over dashboards.selectors (the same scope rules as the
pages: principals see their units, the governing body every unit; aggregates only, never a person)."""

from __future__ import annotations

import dataclasses

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboards.selectors.report import dashboard_report
from dashboards.selectors.scope import dashboard_filters_build


class DashboardReportApi(APIView):
    class FilterInput(serializers.Serializer):
        unit = serializers.IntegerField(
            required=False, allow_null=True, default=None, min_value=1, max_value=2**63 - 1
        )
        version = serializers.IntegerField(
            required=False, allow_null=True, default=None, min_value=1, max_value=2**63 - 1
        )
        date_from = serializers.DateField(required=False, allow_null=True, default=None)
        date_to = serializers.DateField(required=False, allow_null=True, default=None)

    @extend_schema(
        parameters=[FilterInput],
        responses=OpenApiTypes.OBJECT,
        summary="A process's dashboard figures: throughput, cycle time, step times, bottlenecks",
        operation_id="dashboards_report",
    )
    def get(self, request: Request, key: str) -> Response:
        params = self.FilterInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        filters = dashboard_filters_build(
            request.user,
            key,
            unit=query["unit"],
            version=query["version"],
            date_from=query["date_from"],
            date_to=query["date_to"],
        )
        report = dashboard_report(filters)
        return Response(
            {
                "process": filters.process.key,
                "date_from": filters.date_from,
                "date_to": filters.date_to,
                **dataclasses.asdict(report),
            }
        )
