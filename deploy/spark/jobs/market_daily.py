"""operational.market_daily from curated.market_events: Spark's refreshMarketDaily
(lib/market/compact.ts), the same rows in the same table.

  market_daily.py --input '{"from": "2024-03-01", "to": "2024-03-31",
                            "lineage": {"workflowId": "…", "runId": "…", "inputs": []}}'

Per region and UTC day of from..to: events, instruments traded, volume, average price, VWAP and
market_interest — the day's volume over the region's average daily volume in the 30 days
before (RANGE by calendar day; NULL without a day of history; IEEE division as DuckDB's, so
a history of zero volume gives Infinity or NaN). The days before ``from`` come from
market_daily itself (this publish leaves them alone). The rows replace the days from..to in
ONE commit, then one lineage row (scope ``day=from..to``, ingest_day ``to``). Returns
``{rows, rejected: 0, retries}``.

avg_price and the VWAP's numerator add the events in event_id order, as DuckDB's
``avg(price ORDER BY event_id)`` does: bit-identical. DuckDB's ``sum(volume)`` has no order
(its scan order), so volume, VWAP and market_interest may differ in the last bits; Spark adds
volumes in event_id order too, so its own re-runs are bit-identical.
"""

import sys

import tempolake_spark  # first: it records when Python started

# The job's own modules beside it: no __pycache__ folder written into the jobs folder.
sys.dont_write_bytecode = True

from pyspark.sql import Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from tempolake_job import add_days, check_day, check_lineage, days_between, job_input  # noqa: E402
from tempolake_math import ieee_divide, ordered_avg, ordered_sum, sorted_items  # noqa: E402
from tempolake_publish import CATALOG, ensure_tables, replace_scope  # noqa: E402

TABLE = "operational.market_daily"
HISTORY_DAYS = 30


def market_daily_rows(spark, start, end):
    """Rows of market_daily for the days from..to (compact.ts refreshMarketDaily's rowsSql)."""
    events = spark.table(f"{CATALOG}.curated.market_events").where(days_between("day", start, end))
    items = sorted_items(F.col("event_id"), p=F.col("price"), v=F.col("volume"), pv=F.col("price") * F.col("volume"))
    days = (
        events.groupBy("region", "day")
        .agg(
            F.count(F.lit(1)).alias("events"),
            F.count_distinct("instrument").cast("int").alias("instruments"),
            items.alias("items"),
        )
        .select(
            "region",
            "day",
            "events",
            "instruments",
            ordered_sum(F.col("items"), "v").alias("volume"),
            ordered_avg(F.col("items"), "p").alias("avg_price"),
            ordered_sum(F.col("items"), "pv").alias("value"),
        )
        .select(
            "*",
            # sum(price * volume) / nullif(sum(volume), 0)
            F.when(F.col("volume") != 0, ieee_divide(F.col("value"), F.col("volume"))).alias("vwap"),
        )
        .drop("value")
    )
    earlier = (
        spark.table(f"{CATALOG}.{TABLE}")
        .where(days_between("day", add_days(start, -HISTORY_DAYS), add_days(start, -1)))
        .select("region", "day", "volume", F.lit(True).alias("earlier"))
    )
    series = days.select("region", "day", "volume", F.lit(False).alias("earlier")).unionByName(earlier)
    before = Window.partitionBy("region").orderBy(F.unix_date("day")).rangeBetween(-HISTORY_DAYS, -1)
    interest = series.select(
        "region", "day", "earlier", ieee_divide(F.col("volume"), F.avg("volume").over(before)).alias("market_interest")
    ).where(~F.col("earlier"))
    return days.join(interest.drop("earlier"), ["region", "day"]).select(
        "region", "day", "events", "instruments", "volume", "avg_price", "vwap", "market_interest"
    )


def main(spark, argv):
    value = job_input(argv, "market_daily.py")
    start = check_day(value.get("from"), "from")
    end = check_day(value.get("to"), "to")
    # As on the DuckDB path, from after to is no error: no day to compute, nothing replaced.
    lineage = check_lineage(value.get("lineage"))
    ensure_tables(spark, ["lineage.commits", "curated.market_events", TABLE])
    return replace_scope(
        spark,
        table=TABLE,
        scope=days_between("day", start, end),
        day_range=(start, end) if start <= end else None,
        rows=market_daily_rows(spark, start, end),
        scope_text=f"day={start}..{end}",
        ingest_day=end,
        lineage=lineage,
    )


if __name__ == "__main__":
    tempolake_spark.run_job(main, app_name="tempolake-market_daily")
