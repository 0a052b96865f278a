"""Leadership dashboards: aggregates from the projection tables, never a person. Thin views: parse the
filters, call the selectors, render; `?csv=<chart>` answers any chart's table as CSV."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET

from dashboards import pages
from dashboards.charts import Chart
from dashboards.diagrams import heatmap_svg
from dashboards.selectors.bottlenecks import bottlenecks_rank, variants_top
from dashboards.selectors.compliance import deadline_compliance
from dashboards.selectors.cycle_time import process_overview
from dashboards.selectors.pilots import pilot_compare, pilot_default_versions
from dashboards.selectors.scope import (
    DashboardFilters,
    dashboard_filters_build,
    dashboard_units_for_user,
    processes_for_dashboards,
    units_for_filters,
    versions_of,
)
from dashboards.selectors.steps import queue_ages, rework_loops, step_times
from organisation.models import Role
from processes.models import ProcessVersion
from processes.services.bundles import bundle_for_version


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _date(value: str | None) -> date | None:
    try:
        return parse_date(value or "")
    except ValueError:
        return None


def _filters(request: HttpRequest, key: str) -> DashboardFilters:
    return dashboard_filters_build(
        request.user,
        key,
        unit=_int(request.GET.get("unit")),
        version=_int(request.GET.get("version")),
        date_from=_date(request.GET.get("from")),
        date_to=_date(request.GET.get("to")),
    )


def _page(
    request: HttpRequest, template: str, filters: DashboardFilters, charts: list[Chart], **context
) -> HttpResponse:
    slug = request.GET.get("csv")
    if slug:
        chart = next((c for c in charts if c.slug == slug), None)
        if chart is None:
            raise Http404
        response = HttpResponse(chart.csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filters.process.key}-{slug}.csv"'
        return response
    query = filters.as_query()
    return render(
        request,
        template,
        {
            "filters": filters,
            "process": filters.process,
            "charts": charts,
            "units": units_for_filters(filters.allowed_units),
            "versions": versions_of(filters.process),
            "query": "&".join(f"{k}={v}" for k, v in query.items()),
            **context,
        },
    )


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    dashboard_units_for_user(request.user)
    return render(request, "dashboards/index.html", {"processes": processes_for_dashboards()})


@login_required
@require_GET
def overview(request: HttpRequest, key: str) -> HttpResponse:
    filters = _filters(request, key)
    summary = process_overview(filters)
    steps = step_times(filters)
    charts = [
        *pages.overview_charts(summary, steps),
        pages.queue_chart(queue_ages(filters)),
        pages.rework_chart(rework_loops(filters)),
    ]
    return _page(request, "dashboards/overview.html", filters, charts, overview=summary, tab="overview")


def _diagram_version(filters: DashboardFilters) -> ProcessVersion | None:
    if filters.versions:
        return ProcessVersion.objects.get(pk=filters.versions[0])
    return filters.process.versions.filter(instances__isnull=False).order_by("-number").first()


def _heatmap(filters: DashboardFilters) -> str | None:
    version = _diagram_version(filters)
    if version is None:
        return None
    steps = step_times(filters.with_versions(version.pk))
    lanes = {lane: pages.lane_label(lane) for lane in Role.values}
    return heatmap_svg(
        bundle_for_version(version), {s.element_id: s.waiting.median_days for s in steps}, lanes
    )


@login_required
@require_GET
def bottlenecks(request: HttpRequest, key: str) -> HttpResponse:
    filters = _filters(request, key)
    steps = step_times(filters)
    names = {s.element_id: s.name for s in steps}
    charts = [
        pages.bottleneck_chart(bottlenecks_rank(filters, steps)),
        pages.variants_chart(variants_top(filters), names),
    ]
    heatmap = None if request.GET.get("csv") else _heatmap(filters)
    version = _diagram_version(filters)
    return _page(
        request,
        "dashboards/bottlenecks.html",
        filters,
        charts,
        heatmap=heatmap,
        diagram_version=version,
        tab="bottlenecks",
    )


@login_required
@require_GET
def heatmap(request: HttpRequest, key: str) -> HttpResponse:
    svg = _heatmap(_filters(request, key))
    if svg is None:
        raise Http404
    return HttpResponse('<?xml version="1.0" encoding="UTF-8"?>\n' + svg, content_type="image/svg+xml")


@login_required
@require_GET
def deadlines(request: HttpRequest, key: str) -> HttpResponse:
    filters = _filters(request, key)
    rows = deadline_compliance(filters)
    return _page(
        request,
        "dashboards/deadlines.html",
        filters,
        [pages.compliance_chart(rows)],
        rows=rows,
        tab="deadlines",
    )


@login_required
@require_GET
def pilot(request: HttpRequest, key: str) -> HttpResponse:
    filters = _filters(request, key)
    versions = {v.pk: v for v in versions_of(filters.process)}
    chosen_a, chosen_b = _int(request.GET.get("a")), _int(request.GET.get("b"))
    if chosen_a in versions and chosen_b in versions and chosen_a != chosen_b:
        pair = (versions[chosen_a], versions[chosen_b])
    else:
        pair = pilot_default_versions(filters)
    comparison = pilot_compare(filters, *pair) if pair else None
    charts = [pages.pilot_chart(comparison)] if comparison else []
    pair_query = f"a={pair[0].pk}&b={pair[1].pk}" if pair else ""
    return _page(
        request,
        "dashboards/pilot.html",
        filters,
        charts,
        comparison=comparison,
        pair_query=pair_query,
        tab="pilot",
    )
