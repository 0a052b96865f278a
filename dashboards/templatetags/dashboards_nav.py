"""The main menu's "Översikt" link: shown to those who may see the dashboards."""

from __future__ import annotations

from typing import Any

from django import template

from dashboards.selectors.scope import dashboard_may_view

register = template.Library()


@register.filter
def may_view_dashboards(user: Any) -> bool:
    return dashboard_may_view(user)
