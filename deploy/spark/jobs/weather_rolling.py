"""operational.weather_rolling from operational.weather_daily and the latest forecast: Spark's
refreshWeatherRolling (lib/weather/aggregates.ts), the same rows in the same table.

  weather_rolling.py --input '{"from": "2024-03-01", "to": "2024-03-14", "regions": ["r01"],
                               "lineage": {"workflowId": "…", "runId": "…", "inputs": []}}'

Per region and day of from..to with a value of its own: 7- and 30-day trailing averages of
temperature, precipitation and wind over RANGE windows by calendar day (a missing day leaves a
gap and a smaller days_in_*, it does not pull an older day in), reading the 29 days before
``from`` so the first windows are whole. Past a region's last observed day (over all of
weather_daily) the days come from the region's latest forecast run (issued at most 16 days
before the first day read), aggregated like weather_daily and flagged ``is_forecast``.
Refresh weather_daily first. Replace and lineage as weather_daily.py; returns
``{rows, rejected: 0, retries}``.

The forecast days' sums and averages add the hours in time order (bit-identical to DuckDB).
The window averages are Spark's own: DuckDB sums a frame through its segment tree, so the
last bits of those doubles may differ between the engines.
"""

import sys

import tempolake_spark  # first: it records when Python started

# The job's own modules beside it: no __pycache__ folder written into the jobs folder.
sys.dont_write_bytecode = True

from pyspark.sql import Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from tempolake_job import add_days, days_between  # noqa: E402
from tempolake_math import ordered_avg, ordered_sum, sorted_items  # noqa: E402
from tempolake_publish import CATALOG, ensure_tables, replace_scope  # noqa: E402
from weather_daily import regions_text, weather_input, weather_scope  # noqa: E402

TABLE = "operational.weather_rolling"
LONG_WINDOW_DAYS = 30
SHORT_WINDOW_DAYS = 7
# Open-Meteo forecasts reach at most 16 days past the day they are issued (see aggregates.ts).
FORECAST_HORIZON_DAYS = 16


def _regions(df, regions, column="region_id"):
    return df if regions is None else df.where(F.col(column).isin(regions))


def latest_forecast_days(spark, read_from, read_to, regions):
    """The daily values of each region's latest forecast run over the days read."""
    forecast = spark.table(f"{CATALOG}.curated.weather_forecast")
    recent = _regions(forecast.where(F.col("issued_day") >= F.lit(add_days(read_from, -FORECAST_HORIZON_DAYS)).cast("date")), regions)
    latest = recent.groupBy(F.col("region_id").alias("latest_region_id")).agg(F.max("issued_at").alias("latest_issued_at"))
    # The UTC day of the hour: the session's time zone is UTC.
    rows = (
        recent.join(latest, (F.col("region_id") == F.col("latest_region_id")) & (F.col("issued_at") == F.col("latest_issued_at")))
        .select("region_id", "time", "temperature_2m", "precipitation", "wind_speed_10m")
        .withColumn("day", F.to_date("time"))
        .where(days_between("day", read_from, read_to))
    )
    items = sorted_items(F.col("time"), t=F.col("temperature_2m"), p=F.col("precipitation"), w=F.col("wind_speed_10m"))
    return (
        rows.groupBy("region_id", "day")
        .agg(items.alias("items"))
        .select(
            "region_id",
            "day",
            ordered_avg(F.col("items"), "t").alias("temperature_avg"),
            ordered_sum(F.col("items"), "p").alias("precipitation_sum"),
            ordered_avg(F.col("items"), "w").alias("wind_speed_avg"),
        )
    )


def weather_rolling_rows(spark, start, end, regions):
    """Rows of weather_rolling (lib/weather/aggregates.ts weatherRollingSql)."""
    read_from = add_days(start, -(LONG_WINDOW_DAYS - 1))
    daily = spark.table(f"{CATALOG}.operational.weather_daily")
    measures = ["temperature_avg", "precipitation_sum", "wind_speed_avg"]
    observed = _regions(daily.where(days_between("day", read_from, end)), regions).select(
        "region_id", "day", F.lit(False).alias("is_forecast"), *measures
    )
    last_observed = _regions(daily, regions).groupBy("region_id").agg(F.max("day").alias("last_day"))
    forecast = latest_forecast_days(spark, read_from, end, regions)
    future = (
        forecast.join(last_observed, "region_id", "left")
        .where(F.col("last_day").isNull() | (F.col("day") > F.col("last_day")))
        .select("region_id", "day", F.lit(True).alias("is_forecast"), *measures)
    )
    days = observed.unionByName(future).withColumn("day_number", F.unix_date("day"))

    def window(days_back):
        # RANGE over the day's number: calendar days, not rows.
        return Window.partitionBy("region_id").orderBy("day_number").rangeBetween(-(days_back - 1), Window.currentRow)

    w7, w30 = window(SHORT_WINDOW_DAYS), window(LONG_WINDOW_DAYS)
    rolling = days.select(
        "region_id",
        "day",
        "is_forecast",
        F.avg("temperature_avg").over(w7).alias("temperature_avg_7d"),
        F.avg("temperature_avg").over(w30).alias("temperature_avg_30d"),
        F.avg("precipitation_sum").over(w7).alias("precipitation_avg_7d"),
        F.avg("precipitation_sum").over(w30).alias("precipitation_avg_30d"),
        F.avg("wind_speed_avg").over(w7).alias("wind_speed_avg_7d"),
        F.avg("wind_speed_avg").over(w30).alias("wind_speed_avg_30d"),
        F.count(F.lit(1)).over(w7).cast("int").alias("days_in_7d"),
        F.count(F.lit(1)).over(w30).cast("int").alias("days_in_30d"),
    )
    return rolling.where(days_between("day", start, end))


def main(spark, argv):
    start, end, regions, lineage = weather_input(argv, "weather_rolling.py")
    if regions is not None and len(regions) == 0:
        return {"rows": 0, "rejected": 0, "retries": 0}
    ensure_tables(
        spark,
        ["lineage.commits", "rejected.records", "curated.weather_forecast", "operational.weather_daily", TABLE],
    )
    return replace_scope(
        spark,
        table=TABLE,
        scope=weather_scope(start, end, regions),
        day_range=(start, end),
        rows=weather_rolling_rows(spark, start, end, regions),
        scope_text=f"day={start}..{end}{regions_text(regions)}",
        ingest_day=end,
        lineage=lineage,
    )


if __name__ == "__main__":
    tempolake_spark.run_job(main, app_name="tempolake-weather_rolling")
