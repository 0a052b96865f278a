"""Grouped duration statistics computed in the database: percentile_cont on PostgreSQL; on SQLite, which
has no percentiles, the rows' timestamps are read and the same interpolation runs in Python.

A measure is (end field, start field): the seconds between them per row; rows where either is empty are
left out, as percentile_cont leaves out NULL. `end` may name several fields: the first non-empty wins.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Aggregate, Count, F, FloatField, Func, QuerySet, Sum
from django.db.models.functions import Coalesce

from dashboards.stats import percentile_cont

Measure = tuple[tuple[str, ...], str]


@dataclass(frozen=True)
class Durations:
    """Seconds: how many rows, their median, 90th percentile and total."""

    count: int
    median: float | None
    p90: float | None
    total: float

    @property
    def median_days(self) -> float | None:
        return None if self.median is None else self.median / 86400

    @property
    def p90_days(self) -> float | None:
        return None if self.p90 is None else self.p90 / 86400

    @property
    def total_days(self) -> float:
        return self.total / 86400


EMPTY = Durations(0, None, None, 0.0)


class Percentiles(Aggregate):
    """percentile_cont of several fractions from one sort: percentile_cont(ARRAY[…]) WITHIN GROUP."""

    function = "percentile_cont"
    template = "%(function)s(ARRAY[%(fractions)s]) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, fractions: tuple[float, ...], **extra: Any) -> None:
        from django.contrib.postgres.fields import ArrayField

        super().__init__(
            expression,
            fractions=", ".join(f"{float(f)!r}::float8" for f in fractions),
            output_field=ArrayField(FloatField()),
            **extra,
        )


class EpochSeconds(Func):
    # date_part gives double precision; EXTRACT gives numeric since PostgreSQL 14, several times slower.
    template = "date_part('epoch', %(expressions)s)"
    output_field = FloatField()


def _seconds_expression(measure: Measure) -> Any:
    ends, start = measure
    end = Coalesce(*[F(name) for name in ends]) if len(ends) > 1 else F(ends[0])
    return EpochSeconds(end - F(start))


def durations_by_group(
    qs: QuerySet, group_by: list[str], measures: dict[str, Measure], facts: dict[str, Any] | None = None
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """{group key: {measure name: Durations}} for the rows of `qs` grouped by `group_by`; `facts` are
    further aggregates per group (name → aggregate expression), returned under their names."""
    facts = facts or {}
    if connections[qs.db].vendor == "postgresql":
        annotations: dict[str, Any] = dict(facts)
        for name, measure in measures.items():
            seconds = _seconds_expression(measure)
            annotations[f"{name}__n"] = Count(seconds)
            annotations[f"{name}__pct"] = Percentiles(seconds, (0.5, 0.9))
            annotations[f"{name}__total"] = Sum(seconds)
        if not group_by:
            rows = [qs.order_by().aggregate(**annotations)]
        else:
            rows = list(qs.order_by().values(*group_by).annotate(**annotations))
        result = {}
        for row in rows:
            if not group_by and not any(row[f"{name}__n"] for name in measures):
                continue
            key = tuple(row[g] for g in group_by)
            result[key] = {name: row[name] for name in facts}
            for name in measures:
                median, p90 = row[f"{name}__pct"] or (None, None)
                result[key][name] = Durations(row[f"{name}__n"], median, p90, row[f"{name}__total"] or 0.0)
        return result
    if facts:
        fact_rows = qs.order_by().values(*group_by).annotate(**facts)
        found = {tuple(r[g] for g in group_by): {name: r[name] for name in facts} for r in fact_rows}
    else:
        found = {}
    fields = sorted({f for ends, start in measures.values() for f in (*ends, start)})
    values: dict[tuple[Any, ...], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in qs.order_by().values(*group_by, *fields).iterator(chunk_size=5000):
        key = tuple(row[g] for g in group_by)
        bucket = values[key]
        for name, (ends, start) in measures.items():
            end = next((row[e] for e in ends if row[e] is not None), None)
            if end is not None and row[start] is not None:
                bucket[name].append((end - row[start]).total_seconds())
    return {
        key: {
            **found.get(key, {}),
            **{
                name: Durations(
                    len(seconds := bucket.get(name, [])),
                    percentile_cont(seconds, 0.5),
                    percentile_cont(seconds, 0.9),
                    float(sum(seconds)),
                )
                for name in measures
            },
        }
        for key, bucket in values.items()
    }
