"""Every API endpoint, found in the URL resolver (nothing listed by hand): each route under /api/ with
its view class and the HTTP methods that class implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Endpoint:
    route: str  # e.g. api/tasks/<int:task_id>/claim/
    name: str  # namespaced URL name, e.g. tasks-api:claim
    method: str
    view: Any
    converters: tuple[tuple[str, str], ...]  # (parameter, converter class name)

    @property
    def label(self) -> str:
        return f"{self.method.upper()} /{self.route}"


def _walk(patterns: list[Any], prefix: str, namespace: str, converters: dict[str, Any]) -> list[Endpoint]:
    found: list[Endpoint] = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        merged = {**converters, **getattr(entry.pattern, "converters", {})}
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += _walk(entry.url_patterns, route, inner, merged)
        elif isinstance(entry, URLPattern) and route.startswith("api/"):
            view = getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)
            if view is None:
                continue
            for method in METHODS:
                if hasattr(view, method):
                    found.append(
                        Endpoint(
                            route=route,
                            name=f"{namespace}{entry.name}",
                            method=method,
                            view=view,
                            converters=tuple((k, type(v).__name__) for k, v in merged.items()),
                        )
                    )
    return found


def api_endpoints() -> list[Endpoint]:
    return sorted(_walk(get_resolver().url_patterns, "", "", {}), key=lambda e: (e.route, e.method))
