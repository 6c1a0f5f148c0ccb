"""The ``region_trend`` analysis into ``personal_<customer>.<table>``: Spark's computeAnalysis
(lib/analysis/compute.ts) of a region_trend request (lib/analysis/region-trend.ts).

  region_trend.py --input '{"customerId": "acme", "table": "analysis_42",
      "request": {"type": "region_trend", "region_id": "r01", "from": "2011-01-01", "to": "2025-12-31", "bucket": "month"}}'

One region's (or, without region_id, every region's) weather_daily and market_daily series
bucketed by day, ISO week (Monday) or month: per bucket the average, minimum and maximum
temperature, precipitation sum and weather days, traded volume, events, average
market_interest and market days (a FULL OUTER JOIN: a bucket with one side only has NULLs on
the other), and the Pearson correlation of the buckets' average temperature with their volume
over each region's whole series (the same value on its every row; NULL without a pair, NaN
with one pair or a constant side, as DuckDB's corr gives).

The result table is created when missing with the columns DuckDB's ``CREATE TABLE … AS``
gives them (unpartitioned), then all its rows are replaced in ONE commit. An unknown region is
bad input. Returns ``{rows, lakeTable}``.

Spark adds each bucket's days in day order; DuckDB's sums, averages and correlation take its
own order, so those doubles may differ in the last bits between the engines.
"""

import re
import sys

import tempolake_spark  # first: it records when Python started

# The job's own modules beside it: no __pycache__ folder written into the jobs folder.
sys.dont_write_bytecode = True

from pyspark.sql import Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from tempolake_job import BadInputError, check_day, days_between, job_input  # noqa: E402
from tempolake_math import ordered_avg, ordered_sum, sorted_items  # noqa: E402
from tempolake_publish import CATALOG, ensure_tables, replace_scope  # noqa: E402

IDENT = re.compile(r"^[a-z0-9_]{1,63}$")
REGION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
BUCKETS = ("day", "week", "month")

# What DuckDB's CREATE TABLE … AS SELECT … LIMIT 0 makes of regionTrendSql's columns.
RESULT_COLUMNS = (
    "region_id STRING, bucket STRING, bucket_start DATE, temperature_avg DOUBLE, temperature_min DOUBLE, temperature_max DOUBLE, "
    "precipitation_sum DOUBLE, weather_days INT, market_volume DOUBLE, market_events BIGINT, market_interest_avg DOUBLE, "
    "market_days INT, temperature_volume_correlation DOUBLE"
)


def check_request(request):
    """The region_trend request (lib/analysis/requests.ts RegionTrendRequest)."""
    if not isinstance(request, dict) or request.get("type") != "region_trend":
        raise BadInputError("request must be a region_trend request ({type: 'region_trend', …})")
    unknown = set(request) - {"type", "region_id", "from", "to", "bucket"}
    if unknown:
        raise BadInputError(f"request has unknown fields {sorted(unknown)}")
    start = check_day(request.get("from"), "request.from")
    end = check_day(request.get("to"), "request.to")
    if start > end:
        raise BadInputError("request.from must not be after `to`")
    bucket = request.get("bucket", "month")
    if bucket not in BUCKETS:
        raise BadInputError(f"request.bucket must be one of {', '.join(BUCKETS)}, got {bucket!r}")
    region = request.get("region_id")
    if region is not None and (not isinstance(region, str) or not REGION_ID.match(region)):
        raise BadInputError("request.region_id must be a region id as listed by GET /v1/regions")
    return start, end, bucket, region


def bucket_start(bucket):
    # date_trunc('week') starts ISO weeks on Monday, as DuckDB's does; the session's zone is UTC.
    return F.col("day") if bucket == "day" else F.date_trunc(bucket, F.col("day")).cast("date")


def region_trend_rows(spark, start, end, bucket, region):
    """Rows of the result (lib/analysis/region-trend.ts regionTrendSql)."""
    weather = spark.table(f"{CATALOG}.operational.weather_daily").where(days_between("day", start, end))
    market = spark.table(f"{CATALOG}.operational.market_daily").where(days_between("day", start, end))
    if region is not None:
        weather = weather.where(F.col("region_id") == region)
        market = market.where(F.col("region") == region)
    w_items = sorted_items(F.col("day"), t=F.col("temperature_avg"), p=F.col("precipitation_sum"))
    w = (
        weather.select("*", bucket_start(bucket).alias("bucket_start"))
        .groupBy("region_id", "bucket_start")
        .agg(
            w_items.alias("items"),
            F.min("temperature_min").alias("temperature_min"),
            F.max("temperature_max").alias("temperature_max"),
            F.count(F.lit(1)).alias("weather_days"),
        )
        .select(
            "region_id",
            "bucket_start",
            ordered_avg(F.col("items"), "t").alias("temperature_avg"),
            "temperature_min",
            "temperature_max",
            ordered_sum(F.col("items"), "p").alias("precipitation_sum"),
            "weather_days",
        )
    )
    m_items = sorted_items(F.col("day"), v=F.col("volume"), i=F.col("market_interest"))
    m = (
        market.select(F.col("region").alias("region_id"), "events", bucket_start(bucket).alias("bucket_start"), "day", "volume", "market_interest")
        .groupBy("region_id", "bucket_start")
        .agg(m_items.alias("items"), F.sum("events").alias("market_events"), F.count(F.lit(1)).alias("market_days"))
        .select(
            "region_id",
            "bucket_start",
            ordered_sum(F.col("items"), "v").alias("market_volume"),
            "market_events",
            ordered_avg(F.col("items"), "i").alias("market_interest_avg"),
            "market_days",
        )
    )
    joined = w.alias("w").join(
        m.alias("m"), (F.col("m.region_id") == F.col("w.region_id")) & (F.col("m.bucket_start") == F.col("w.bucket_start")), "full_outer"
    )
    series = joined.select(
        F.coalesce("w.region_id", "m.region_id").alias("region_id"),
        F.coalesce("w.bucket_start", "m.bucket_start").alias("bucket_start"),
        "w.temperature_avg",
        "w.temperature_min",
        "w.temperature_max",
        "w.precipitation_sum",
        F.coalesce("w.weather_days", F.lit(0)).alias("weather_days"),
        "m.market_volume",
        "m.market_events",
        "m.market_interest_avg",
        F.coalesce("m.market_days", F.lit(0)).alias("market_days"),
    )
    # corr(temperature_avg, market_volume) OVER (PARTITION BY region_id), with DuckDB's answers
    # where a variance is zero (NaN, also for a single pair) — Spark's corr fails on those under
    # ANSI (division by zero), so it only sees series it can divide by.
    whole = Window.partitionBy("region_id")
    both = F.col("temperature_avg").isNotNull() & F.col("market_volume").isNotNull()
    x, y = F.when(both, F.col("temperature_avg")), F.when(both, F.col("market_volume"))
    moments = series.select(
        "*",
        F.count(F.when(both, 1)).over(whole).alias("pairs"),
        F.var_pop(x).over(whole).alias("var_x"),
        F.var_pop(y).over(whole).alias("var_y"),
    )
    # NaN > 0 holds in Spark: a NaN variance goes to corr, which answers NaN as DuckDB does.
    dividable = (F.col("pairs") >= 2) & (F.col("var_x") > 0) & (F.col("var_y") > 0)
    correlated = moments.select("*", F.corr(F.when(dividable, x), F.when(dividable, y)).over(whole).alias("corr"))
    return correlated.select(
        F.col("region_id").cast("string").alias("region_id"),
        F.lit(bucket).alias("bucket"),
        "bucket_start",
        "temperature_avg",
        "temperature_min",
        "temperature_max",
        "precipitation_sum",
        F.col("weather_days").cast("int").alias("weather_days"),
        "market_volume",
        F.col("market_events").cast("bigint").alias("market_events"),
        "market_interest_avg",
        F.col("market_days").cast("int").alias("market_days"),
        F.when(F.col("pairs") == 0, F.lit(None).cast("double"))
        .when(dividable, F.col("corr"))
        .otherwise(F.lit(float("nan")))
        .alias("temperature_volume_correlation"),
    )


def main(spark, argv):
    value = job_input(argv, "region_trend.py")
    customer, table = value.get("customerId"), value.get("table")
    namespace = f"personal_{customer}"
    if not isinstance(customer, str) or not isinstance(table, str) or not IDENT.match(namespace) or not IDENT.match(table):
        raise BadInputError(f"bad result name {namespace}.{table}")
    start, end, bucket, region = check_request(value.get("request"))
    ensure_tables(spark, ["operational.regions", "operational.weather_daily", "operational.market_daily", "lineage.commits"])
    if region is not None:
        known = spark.table(f"{CATALOG}.operational.regions").where(F.col("region_id") == region).limit(1).count()
        if known == 0:
            raise BadInputError(f'unknown region "{region}": GET /v1/regions lists them')
    target = f"{namespace}.{table}"
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{namespace}")
    columns = ", ".join(f"`{c.split(' ', 1)[0]}` {c.split(' ', 1)[1]}" for c in RESULT_COLUMNS.split(", "))
    spark.sql(f"CREATE TABLE IF NOT EXISTS {CATALOG}.{target} ({columns}) USING iceberg TBLPROPERTIES ('format-version' = '2')")
    published = replace_scope_without_lineage(spark, target, region_trend_rows(spark, start, end, bucket, region))
    return {"lakeTable": target, "rows": published}


def replace_scope_without_lineage(spark, target, rows):
    """Every row of the result replaced in one commit (computeAnalysis writes no lineage row)."""
    return replace_scope(
        spark,
        table=target,
        scope=F.lit(True),
        day_range=None,
        rows=rows,
        scope_text="all rows",
        ingest_day=None,
        lineage=None,
    )["rows"]


if __name__ == "__main__":
    tempolake_spark.run_job(main, app_name="tempolake-region_trend")
