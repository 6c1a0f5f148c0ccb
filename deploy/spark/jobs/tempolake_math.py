"""Sums and averages that add in a given order, and IEEE division: what lets a Spark job give
the same doubles as DuckDB's ``sum(x ORDER BY k)``, ``avg(x ORDER BY k)`` and ``/``.
"""

from pyspark.sql import functions as F


def sorted_items(order, **values):
    """The group's rows as one array of structs (k = order, then the named values), sorted by k."""
    return F.array_sort(F.collect_list(F.struct(order.alias("k"), *[c.alias(n) for n, c in values.items()])))


def ordered_sum(items, field):
    """sum(field ORDER BY k) over ``sorted_items``: added one by one in that order, from 0.0, nulls
    skipped, NULL when no value — exactly DuckDB's sum(x ORDER BY k) on doubles."""
    values = F.filter(F.transform(items, lambda e: e[field]), lambda v: v.isNotNull())
    return F.when(F.size(values) > 0, F.aggregate(values, F.lit(0.0).cast("double"), lambda acc, v: acc + v))


def ordered_avg(items, field):
    """avg(field ORDER BY k): the ordered sum over the count of non-null values (DuckDB's avg)."""
    values = F.filter(F.transform(items, lambda e: e[field]), lambda v: v.isNotNull())
    return F.when(F.size(values) > 0, F.aggregate(values, F.lit(0.0).cast("double"), lambda acc, v: acc + v) / F.size(values))


def ieee_divide(n, d):
    """n / d for doubles as IEEE 754 (and DuckDB) define it: x/0 = ±Infinity, 0/0 = NaN. Spark's
    own ``/`` gives NULL (or fails under ANSI) for a zero divisor."""
    n = n.cast("double")
    d = d.cast("double")
    return (
        F.when(n.isNull() | d.isNull(), F.lit(None).cast("double"))
        .when(F.isnan(n) | F.isnan(d), F.lit(float("nan")))
        .when(d != 0, n / d)
        .when(n == 0, F.lit(float("nan")))
        .when(n > 0, F.lit(float("inf")))
        .otherwise(F.lit(float("-inf")))
    )
