"""Grouped duration statistics computed in the database: percentile_cont on PostgreSQL; on SQLite, which
has no percentiles, the rows' timestamps are read and the same interpolation runs in Python.

A measure is (end field, start field): the seconds between them per row; rows where either is empty are
left out, as percentile_cont leaves out NULL. `end` may name several fields: the first non-empty wins.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
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


# One ordered-set aggregate per measure over a GROUP BY makes PostgreSQL sort every row by the group key
# first (ordered-set aggregates cannot be hashed) and then sort again per group. Collecting each group's
# seconds with array_agg (hashable) and taking the percentiles per group over unnest() skips the first
# sort (unnest in a SELECT list streams; in FROM it is materialised first). The rows' seconds are computed
# in a subquery kept apart (OFFSET 0) so that parallel workers compute them below the Gather. Settings for
# this query only (measured at 1,000,000 rows, bench/dashboard_report.py): jit off (compiling cost more than
# it saved); parallel_tuple_cost low, since the rows passed up are three narrow columns (the default keeps
# the scan and join serial, about 120 ms slower on two cores); work_mem so each group's sort stays in memory.
# Called inside an outer transaction, the settings last until that transaction ends (read-only pages).
SESSION = (
    "SET LOCAL jit = off",
    "SET LOCAL parallel_tuple_cost = 0.0001",
    "SET LOCAL parallel_setup_cost = 0",
    "SET LOCAL work_mem = '64MB'",
)


def _postgres_grouped(
    qs: QuerySet, group_by: list[str], measures: dict[str, Measure], fractions: tuple[float, ...]
) -> list[tuple[Any, ...]]:
    """Rows (*group key, *per measure [count, sum, *percentiles]) via array_agg, one query."""
    aliases = {name: f"m{index}" for index, name in enumerate(measures)}
    inner = (
        qs.order_by()
        .annotate(**{aliases[name]: _seconds_expression(m) for name, m in measures.items()})
        .values(*group_by, *aliases.values())
    )
    sql, params = inner.query.sql_with_params()
    keys = [f"k{index}" for index in range(len(group_by))]
    pct = ", ".join(f"{float(f)!r}::float8" for f in fractions)
    summary = ", ".join(
        f"(SELECT ARRAY[count(x)::float8, sum(x)] || percentile_cont(ARRAY[{pct}]) WITHIN GROUP "  # noqa: S608
        f"(ORDER BY x) FROM (SELECT unnest(a{index}) AS x) AS u)"
        for index in range(len(measures))
    )
    collected = ", ".join(f"array_agg(t.m{index}) AS a{index}" for index in range(len(measures)))
    columns = ", ".join(f"t.{key}" for key in keys)
    renamed = ", ".join([*keys, *aliases.values()])
    # Trusted SQL: aliases and fractions built here; the inner query's values stay parameters.
    query = (
        f"SELECT {', '.join(keys)}, {summary} FROM (SELECT {columns}, {collected} "  # noqa: S608
        f"FROM ({sql} OFFSET 0) AS t ({renamed}) GROUP BY {columns}) AS g"
    )
    with transaction.atomic(using=qs.db), connections[qs.db].cursor() as cursor:
        for statement in SESSION:
            cursor.execute(statement)
        cursor.execute(query, params)
        return cursor.fetchall()


def durations_by_group(
    qs: QuerySet, group_by: list[str], measures: dict[str, Measure], facts: dict[str, Any] | None = None
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """{group key: {measure name: Durations}} for the rows of `qs` grouped by `group_by`; `facts` are
    further aggregates per group (name → aggregate expression), returned under their names."""
    facts = facts or {}
    postgres = connections[qs.db].vendor == "postgresql"
    if postgres and group_by and not facts:
        result = {}
        for row in _postgres_grouped(qs, group_by, measures, (0.5, 0.9)):
            key, values = tuple(row[: len(group_by)]), row[len(group_by) :]
            result[key] = {}
            for name, value in zip(measures, values, strict=True):
                count, total, median, p90 = [*value, None, None][:4]  # no percentiles of nothing
                result[key][name] = Durations(int(count), median, p90, total or 0.0)
        return result
    if postgres:
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
