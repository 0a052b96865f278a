"""Restricted evaluator for gateway conditions, timer expressions and script tasks.

SpiffWorkflow's default environment is ``eval``/``exec`` with full builtins; anything a modeller
types would run with the privileges of the web process. Here expressions go through simpleeval
(an AST walker with no access to builtins), narrowed further: a whitelist of functions, a per-type
whitelist of attributes, no f-strings or ``%`` formatting (both can build gigabyte strings from a
tiny expression), and a step/time/size budget so hostile input is refused instead of hanging.
See docs/adr/0001-restricted-evaluator.md.
"""

from __future__ import annotations

import ast
import math
import time
from collections.abc import Callable, Mapping, MutableMapping
from datetime import date, datetime
from typing import Any

import simpleeval
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from . import clock
from .calendar import get_default_calendar
from .errors import ExpressionError

MAX_EXPRESSION_CHARS = 10_000
MAX_SCRIPT_LINES = 200
MAX_AST_DEPTH = 40
MAX_STEPS = 100_000
# A backstop only: the step budget is the deterministic limit. Wall-clock time also counts time the
# process spends descheduled, so a tight figure would refuse valid models on a busy server.
TIME_BUDGET_SECONDS = 2.0
MAX_STRING_CHARS = 100_000
MAX_COLLECTION_ITEMS = 10_000
MAX_INT_BITS = 4_096
# Total size of a value stored by a script (strings count characters, containers count items).
MAX_STORED_UNITS = 1_000_000
MAX_VALUE_UNITS = 200_000

ALLOWED_NODE_TYPES = (
    ast.Expression,
    ast.Expr,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.BinOp,
    ast.UnaryOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.keyword,
    ast.Subscript,
    ast.Slice,
    ast.Attribute,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.comprehension,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
)

ALLOWED_ATTRS: dict[type | None, set[str]] = {
    str: {
        "lower",
        "upper",
        "strip",
        "lstrip",
        "rstrip",
        "startswith",
        "endswith",
        "split",
        "isdigit",
        "casefold",
        "title",
        "capitalize",
    },
    dict: {"get", "keys", "values", "items"},
    list: {"index", "count"},
    tuple: {"index", "count"},
}


class _Budget:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.steps = 0
        self.deadline = time.monotonic() + TIME_BUDGET_SECONDS

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise ExpressionError(
                "expression exceeds the step budget", expression=self.expression, code="expression_too_costly"
            )
        # Checking the clock every node is cheap next to the AST walk itself.
        if time.monotonic() > self.deadline:
            raise ExpressionError(
                "expression exceeds the time budget", expression=self.expression, code="expression_too_costly"
            )


def _refuse(message: str) -> ExpressionError:
    return ExpressionError(message, code="expression_too_large")


def _check_scalar_size(value: Any) -> None:
    if isinstance(value, (str, bytes)) and len(value) > MAX_STRING_CHARS:
        raise _refuse("string result is too long")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise _refuse("number is too large")
    if isinstance(value, (list, tuple, set, frozenset, dict)) and len(value) > MAX_COLLECTION_ITEMS:
        raise _refuse("collection is too large")


def _safe_pow(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        # Estimate the result size before computing it: 10**10**10 must not even start.
        if b * math.log2(abs(a)) > MAX_INT_BITS:
            raise _refuse("power result is too large")
    try:
        return a**b
    except OverflowError as exc:
        raise _refuse("power result is too large") from exc


def _safe_mult(a: Any, b: Any) -> Any:
    for seq, times in ((a, b), (b, a)):
        if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int):
            if times * len(seq) > MAX_STRING_CHARS:
                raise _refuse("repeated sequence is too long")
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
        raise _refuse("product is too large")
    return a * b


def _safe_add(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes, list, tuple)) and isinstance(b, (str, bytes, list, tuple)):
        if len(a) + len(b) > MAX_STRING_CHARS:
            raise _refuse("concatenation is too long")
    return a + b


def _safe_mod(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes)):
        # printf-style formatting can pad to arbitrary widths ("%0999999999d").
        raise ExpressionError("string formatting with % is not allowed", code="expression_refused")
    return a % b


OPERATORS: dict[type, Callable[..., Any]] = dict(simpleeval.DEFAULT_OPERATORS)
OPERATORS.update({ast.Pow: _safe_pow, ast.Mult: _safe_mult, ast.Add: _safe_add, ast.Mod: _safe_mod})


def measure(value: Any, limit: int = MAX_STORED_UNITS) -> int:
    """Size units of a JSON-like value; refuses non-data values and anything above ``limit``."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        total += 1
        if item is None or isinstance(item, (bool, int, float)):
            _check_scalar_size(item)
        elif isinstance(item, str):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, val in item.items():
                if not isinstance(key, (str, int)):
                    raise ExpressionError("data keys must be strings", code="expression_refused")
                stack.append(key)
                stack.append(val)
        elif isinstance(item, datetime):
            pass
        else:
            raise ExpressionError(
                f"a value of type {type(item).__name__} cannot be stored in process data",
                code="expression_refused",
            )
        if total > limit:
            raise _refuse("value is too large")
    return total


def _fn_sum(values: Any, start: Any = 0) -> Any:
    items = list(values)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in [*items, start]):
        # sum() over lists is quadratic list concatenation; only numbers are summed.
        raise ExpressionError("sum() only adds numbers", code="expression_refused")
    return sum(items, start)


def _fn_str(value: Any = "") -> str:
    measure(value, MAX_STRING_CHARS)
    return str(value)


def _fn_sorted(values: Any, **kwargs: Any) -> list[Any]:
    items = list(values)
    _check_scalar_size(items)
    return sorted(items, **kwargs)


def _fn_working_days(n: int) -> str:
    return get_default_calendar().working_days_duration(int(n))


def _fn_deadline_after(start: Any, duration: Any) -> str:
    """``deadline_after(decision_notified_at, "P3W")``: the end of a statutory period, for a ``timeDate``.

    ``start`` is the day the period counts from (an ISO date, an ISO date-time - taken as its Stockholm
    date - or a date); ``None`` or ``""`` means today. ``duration`` is an ISO 8601 period of years, months,
    weeks and days. The last day is moved past Saturdays, Sundays, public holidays, Midsommarafton,
    julafton and nyårsafton (lag (1930:173) 2 §); the result is 23:59:59 Europe/Stockholm of that day as
    an ISO 8601 date-time.
    """
    if start is None or start == "":
        day = clock.now().astimezone(_stockholm()).date()
    elif isinstance(start, datetime):
        day = (start if start.tzinfo else start.replace(tzinfo=_stockholm())).astimezone(_stockholm()).date()
    elif isinstance(start, date):
        day = start
    elif isinstance(start, str) and len(start) <= 40:
        text = start.strip()
        if len(text) == 10:
            day = date.fromisoformat(text)
        else:
            parsed = datetime.fromisoformat(text)
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=_stockholm())
            day = parsed.astimezone(_stockholm()).date()
    else:
        raise ExpressionError(
            "deadline_after() needs an ISO date or date-time to count from", code="expression_refused"
        )
    return get_default_calendar().period_deadline(day, duration).isoformat()


def _fn_now() -> str:
    return clock.now().isoformat()


def _fn_today() -> str:
    return clock.now().astimezone(_stockholm()).date().isoformat()


def _stockholm() -> Any:
    from .calendar import STOCKHOLM

    return STOCKHOLM


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "sum": _fn_sum,
    "any": any,
    "all": all,
    "str": _fn_str,
    "int": int,
    "float": float,
    "bool": bool,
    "round": round,
    "abs": abs,
    "sorted": _fn_sorted,
    "working_days": _fn_working_days,
    "deadline_after": _fn_deadline_after,
    "now": _fn_now,
    "today": _fn_today,
}


_REFERENCE_NODES = (ast.Name, ast.Subscript, ast.Attribute)


class _Evaluator(simpleeval.EvalWithCompoundTypes):  # type: ignore[misc]
    def __init__(self, names: Mapping[str, Any], budget: _Budget) -> None:
        super().__init__(
            operators=OPERATORS, functions=FUNCTIONS, names=dict(names), allowed_attrs=ALLOWED_ATTRS
        )
        self._budget = budget
        self.nodes.pop(ast.JoinedStr, None)
        self.nodes.pop(ast.FormattedValue, None)

    def _eval(self, node: ast.AST) -> Any:
        self._budget.tick()
        result = super()._eval(node)
        _check_scalar_size(result)
        if isinstance(result, (list, tuple, dict, set)) and not isinstance(node, _REFERENCE_NODES):
            # A freshly built container may share references ([[1]*10**4]*10**4); its logical size
            # is what a later comparison or str() would pay for, so bound it now.
            measure(result, MAX_VALUE_UNITS)
        return result

    def _check_disallowed_items(self, item: Any) -> None:
        # simpleeval walks every container after every node, which is itself quadratic on shared
        # references. Names resolve only to data or FUNCTIONS, so only the top level can be unsafe.
        if callable(item) and item in simpleeval.DISALLOW_FUNCTIONS:
            raise simpleeval.FeatureNotAvailable("This function is forbidden")


def _check_tree(tree: ast.AST, source: str) -> None:
    depth_of: list[tuple[ast.AST, int]] = [(tree, 0)]
    while depth_of:
        node, depth = depth_of.pop()
        if depth > MAX_AST_DEPTH:
            raise ExpressionError(
                "expression is nested too deeply", expression=source, code="expression_too_large"
            )
        if not isinstance(node, ALLOWED_NODE_TYPES):
            raise ExpressionError(
                f"{type(node).__name__} is not allowed in expressions",
                expression=source,
                code="expression_refused",
            )
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(
                f"name {node.id!r} is not allowed", expression=source, code="expression_refused"
            )
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(
                f"attribute {node.attr!r} is not allowed", expression=source, code="expression_refused"
            )
        depth_of.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _parse(source: str, mode: str) -> ast.AST:
    if not isinstance(source, str):
        raise ExpressionError("expression must be text", code="expression_refused")
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ExpressionError("expression is too long", expression=source[:200], code="expression_too_large")
    try:
        return ast.parse(source.strip(), mode=mode)
    except SyntaxError as exc:
        raise ExpressionError(
            f"syntax error on line {exc.lineno}: {exc.msg}", expression=source, code="expression_syntax"
        ) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(
            "expression is nested too deeply", expression=source[:200], code="expression_too_large"
        ) from None


def check_expression(expression: str) -> None:
    """Refuse an expression that could never run (syntax, forbidden constructs) without evaluating it."""
    _check_tree(_parse(expression, "eval"), expression)


def _run(node: ast.AST, names: Mapping[str, Any], source: str) -> Any:
    evaluator = _Evaluator(names, _Budget(source))
    evaluator.expr = source
    try:
        return evaluator._eval(node)
    except ExpressionError as exc:
        exc.expression = exc.expression or source
        raise
    except simpleeval.NameNotDefined as exc:
        raise ExpressionError(
            f"name {exc.name!r} is not defined", expression=source, code="expression_name"
        ) from None
    except simpleeval.InvalidExpression as exc:
        raise ExpressionError(str(exc), expression=source, code="expression_refused") from None
    except RecursionError:
        raise ExpressionError(
            "expression is nested too deeply", expression=source, code="expression_too_large"
        ) from None
    except MemoryError:
        raise ExpressionError(
            "expression needs too much memory", expression=source, code="expression_too_large"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any runtime failure of user code is an ExpressionError
        raise ExpressionError(f"{type(exc).__name__}: {exc}", expression=source) from None


def evaluate(expression: str, names: Mapping[str, Any] | None = None) -> Any:
    """Evaluate one side-effect-free expression over ``names``; raises ExpressionError."""
    tree = _parse(expression, "eval")
    _check_tree(tree, expression)
    return _run(tree.body, names or {}, expression)  # type: ignore[attr-defined]


def _assign_target(target: ast.expr, value: Any, context: MutableMapping[str, Any], line: str) -> None:
    if isinstance(target, ast.Name):
        if target.id.startswith("_") or target.id in FUNCTIONS:
            raise ExpressionError(
                f"cannot assign to {target.id!r}", expression=line, code="expression_refused"
            )
        context[target.id] = value
        return
    if isinstance(target, ast.Subscript):
        base = target.value
        while isinstance(base, ast.Subscript):
            base = base.value
        if not isinstance(base, ast.Name) or base.id.startswith("_"):
            raise ExpressionError(
                "only data items can be assigned", expression=line, code="expression_refused"
            )
        _check_tree(target.value, line)
        _check_tree(target.slice, line)
        container = _run(target.value, context, line)
        key = _run(target.slice, context, line)
        if not isinstance(container, (dict, list)):
            raise ExpressionError(
                "only dict or list items can be assigned", expression=line, code="expression_refused"
            )
        if isinstance(container, dict) and not isinstance(key, str):
            raise ExpressionError("data keys must be strings", expression=line, code="expression_refused")
        container[key] = value
        if isinstance(container, dict):
            measure(container)
        return
    raise ExpressionError(
        "only `name = expression` assignments are allowed", expression=line, code="expression_refused"
    )


def execute(script: str, context: MutableMapping[str, Any]) -> None:
    """Run a script task: ``name = expression`` lines (or ``data["key"] = ...``), updating ``context``.

    Each right-hand side goes through the restricted evaluator; anything but assignment is refused.
    """
    tree = _parse(script, "exec")
    lines = script.strip().splitlines()
    if len(lines) > MAX_SCRIPT_LINES:
        raise ExpressionError("script is too long", code="expression_too_large")
    for statement in tree.body:  # type: ignore[attr-defined]
        line = lines[statement.lineno - 1].strip() if statement.lineno <= len(lines) else script
        if isinstance(statement, ast.Pass):
            continue
        if not isinstance(statement, ast.Assign):
            raise ExpressionError(
                f"line {statement.lineno}: only `name = expression` lines are allowed",
                expression=line,
                code="expression_refused",
            )
        _check_tree(statement.value, line)
        try:
            value = _run(statement.value, context, line)
            measure(value)
            for target in statement.targets:
                _assign_target(target, value, context, line)
        except ExpressionError as exc:
            exc.message = f"line {statement.lineno}: {exc.message}"
            exc.args = (exc.message,)
            raise


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """SpiffWorkflow environment whose evaluate/execute never reach ``eval``/``exec``."""

    def evaluate(
        self, expression: str, context: Mapping[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> Any:
        names = dict(external_context or {})
        names.update(context)
        return evaluate(expression, names)

    def execute(
        self,
        script: str,
        context: MutableMapping[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> bool:
        execute(script, context)
        return True

    def call_service(self, context: Mapping[str, Any], **kwargs: Any) -> Any:
        raise ExpressionError("service tasks are not supported by this engine", code="unsupported")


def _with_task(exc: ExpressionError, task: Any) -> ExpressionError:
    spec = task.task_spec
    exc.element_id = exc.element_id or getattr(spec, "bpmn_id", None)
    exc.element_name = exc.element_name or getattr(spec, "bpmn_name", None)
    return exc


class RestrictedScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """Script engine bound to :class:`RestrictedEnvironment`; errors carry the BPMN element."""

    def __init__(self) -> None:
        super().__init__(environment=RestrictedEnvironment())

    def validate(self, expression: str) -> None:
        check_expression(expression)

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except ExpressionError as exc:
            raise _with_task(exc, task) from None

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> bool:
        try:
            return bool(self.environment.execute(script, task.data, external_context or {}))
        except ExpressionError as exc:
            raise _with_task(exc, task) from None
