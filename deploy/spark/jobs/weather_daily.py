"""operational.weather_daily from curated.weather_observed: Spark's refreshWeatherDaily
(lib/weather/aggregates.ts), the same rows in the same table.

  weather_daily.py --input '{"from": "2024-03-01", "to": "2024-03-31", "regions": ["r01"],
                             "lineage": {"workflowId": "…", "runId": "…", "inputs": []}}'

Per region and UTC day (the observed rows' ``day``) of from..to: average, minimum and maximum
temperature, precipitation sum, average and maximum wind, average humidity, and the hours
observed. ``regions`` omitted: every region; empty: nothing is computed or committed. The
rows replace the scope (days from..to, and the regions when given) in ONE Iceberg commit,
then one lineage row is appended (table, scope ``day=from..to[ regions=a,b]``, ingest_day =
``to``), as publishPartition does; source C's rejected records are left alone. Returns
``{rows, rejected: 0, retries}``.

Sums and averages add the hours in time order, as DuckDB's ``avg(x ORDER BY "time")`` does,
so both engines give bit-identical doubles.

weather_rolling imports this job's input and scope.
"""

import sys

import tempolake_spark  # first: it records when Python started

# The job's own modules beside it: no __pycache__ folder written into the jobs folder.
sys.dont_write_bytecode = True

from pyspark.sql import functions as F  # noqa: E402

from tempolake_job import BadInputError, check_day, check_lineage, check_regions, days_between, job_input  # noqa: E402
from tempolake_math import ordered_avg, ordered_sum, sorted_items  # noqa: E402
from tempolake_publish import CATALOG, ensure_tables, replace_scope  # noqa: E402


def regions_text(regions):
    return "" if regions is None else f" regions={','.join(regions)}"


def weather_input(argv, prog):
    """The input of refreshWeatherDaily / refreshWeatherRolling: {from, to, regions?, lineage}."""
    value = job_input(argv, prog)
    start = check_day(value.get("from"), "from")
    end = check_day(value.get("to"), "to")
    if start > end:
        raise BadInputError(f"from ({start}) is after to ({end})")
    return start, end, check_regions(value.get("regions")), check_lineage(value.get("lineage"))


def weather_scope(start, end, regions):
    scope = days_between("day", start, end)
    return scope if regions is None else scope & F.col("region_id").isin(regions)


# ---------------------------------------------------------------------------------------------
# weather_daily
# ---------------------------------------------------------------------------------------------

TABLE = "operational.weather_daily"


def weather_daily_rows(spark, start, end, regions):
    """Rows of weather_daily for the days and regions (lib/weather/aggregates.ts weatherDailySql)."""
    observed = spark.table(f"{CATALOG}.curated.weather_observed").where(weather_scope(start, end, regions))
    items = sorted_items(
        F.col("time"),
        t=F.col("temperature_2m"),
        p=F.col("precipitation"),
        w=F.col("wind_speed_10m"),
        h=F.col("relative_humidity_2m"),
    )
    grouped = observed.groupBy("region_id", "day").agg(
        items.alias("items"),
        F.min("temperature_2m").alias("temperature_min"),
        F.max("temperature_2m").alias("temperature_max"),
        F.max("wind_speed_10m").alias("wind_speed_max"),
        F.count(F.lit(1)).cast("int").alias("hours"),
    )
    return grouped.select(
        "region_id",
        "day",
        ordered_avg(F.col("items"), "t").alias("temperature_avg"),
        "temperature_min",
        "temperature_max",
        ordered_sum(F.col("items"), "p").alias("precipitation_sum"),
        ordered_avg(F.col("items"), "w").alias("wind_speed_avg"),
        "wind_speed_max",
        ordered_avg(F.col("items"), "h").alias("relative_humidity_avg"),
        "hours",
    )


def main(spark, argv):
    start, end, regions, lineage = weather_input(argv, "weather_daily.py")
    if regions is not None and len(regions) == 0:
        return {"rows": 0, "rejected": 0, "retries": 0}
    ensure_tables(spark, ["lineage.commits", "rejected.records", "curated.weather_observed", TABLE])
    return replace_scope(
        spark,
        table=TABLE,
        scope=weather_scope(start, end, regions),
        day_range=(start, end),
        rows=weather_daily_rows(spark, start, end, regions),
        scope_text=f"day={start}..{end}{regions_text(regions)}",
        ingest_day=end,
        lineage=lineage,
    )


if __name__ == "__main__":
    tempolake_spark.run_job(main, app_name="tempolake-weather_daily")
