"""Problems and errors the engine hands to the platform.

SpiffWorkflow exceptions never leave the engine: they are converted here so callers see one
error type carrying the BPMN element, its lane and the failing expression.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bundle, named so a modeller can find it in the diagram."""

    code: str
    message: str
    element_id: str | None = None
    element_name: str | None = None
    file: str | None = None


class EngineError(Exception):
    """Any failure inside the engine, with a stable machine-readable ``code``."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        element_id: str | None = None,
        element_name: str | None = None,
        lane: str | None = None,
        expression: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.element_id = element_id
        self.element_name = element_name
        self.lane = lane
        self.expression = expression

    def __str__(self) -> str:
        where = f" [{self.element_id}]" if self.element_id else ""
        expr = f" (expression: {self.expression!r})" if self.expression else ""
        return f"{self.code}: {self.message}{where}{expr}"


class BundleInvalid(EngineError):
    """The bundle cannot be loaded; ``problems`` lists everything found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0] if problems else None
        summary = "; ".join(f"{p.code}: {p.message}" for p in problems[:5])
        super().__init__(
            "bundle_invalid",
            summary or "bundle invalid",
            element_id=first.element_id if first else None,
            element_name=first.element_name if first else None,
        )
        self.problems = problems


class ExpressionError(EngineError):
    """An expression or script was refused by the restricted evaluator or failed while running."""

    def __init__(
        self,
        message: str,
        *,
        expression: str | None = None,
        code: str = "expression_error",
        element_id: str | None = None,
        element_name: str | None = None,
        lane: str | None = None,
    ) -> None:
        super().__init__(
            code,
            message,
            element_id=element_id,
            element_name=element_name,
            lane=lane,
            expression=expression,
        )
