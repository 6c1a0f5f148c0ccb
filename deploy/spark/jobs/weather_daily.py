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

This module also holds what the other tempolake aggregate jobs share (weather_rolling,
market_daily, compact_market_hour, region_trend import it): the input contract, the lake's
table definitions (a mirror of lib/**/tables.ts, for tables a job must create when missing),
ordered sums, IEEE division and ``replace_scope``, the one-commit replace of a scope.
"""

import argparse
import datetime
import json
import random
import re
import sys
import time

import tempolake_spark  # first: it records when Python started

# The job's own modules beside it: no __pycache__ folder written into the jobs folder.
sys.dont_write_bytecode = True

from pyspark.sql import functions as F  # noqa: E402

import tempolake_publish  # noqa: E402
from tempolake_publish import BadInputError  # noqa: E402

CATALOG = tempolake_spark.CATALOG

# ---------------------------------------------------------------------------------------------
# Shared by the aggregate jobs
# ---------------------------------------------------------------------------------------------

# The lake's tables these jobs read or write, as lib/**/tables.ts defines them (DuckDB type →
# Spark type: VARCHAR → STRING, TIMESTAMPTZ → TIMESTAMP, INTEGER → INT, VARCHAR[] → ARRAY<STRING>;
# Iceberg stores the same types either way). Created only when missing, as ensureTables does.
_WEATHER_VARIABLES = "temperature_2m DOUBLE, relative_humidity_2m DOUBLE, precipitation DOUBLE, wind_speed_10m DOUBLE, weather_code INT"
LAKE_TABLES = {
    "lineage.commits": (
        "table_name STRING, scope STRING, ingest_day DATE, workflow_id STRING, run_id STRING, inputs STRING, rows BIGINT, rejected BIGINT, committed_at TIMESTAMP",
        "ingest_day",
    ),
    "rejected.records": ("source STRING, ingest_day DATE, raw_key STRING, line BIGINT, reason STRING, record STRING", "ingest_day"),
    "operational.regions": (
        "region_id STRING, name STRING, latitude DOUBLE, longitude DOUBLE, country STRING, timezone STRING, metadata STRING, origin STRING, first_seen TIMESTAMP",
        None,
    ),
    "curated.weather_observed": (
        f"region_id STRING, time TIMESTAMP, {_WEATHER_VARIABLES}, origin STRING, day DATE, _raw_key STRING",
        "months(day)",
    ),
    "curated.weather_forecast": (
        f"region_id STRING, issued_at TIMESTAMP, time TIMESTAMP, {_WEATHER_VARIABLES}, issued_day DATE, _raw_key STRING",
        "months(issued_day)",
    ),
    "operational.weather_daily": (
        "region_id STRING, day DATE, temperature_avg DOUBLE, temperature_min DOUBLE, temperature_max DOUBLE, precipitation_sum DOUBLE, "
        "wind_speed_avg DOUBLE, wind_speed_max DOUBLE, relative_humidity_avg DOUBLE, hours INT",
        "years(day)",
    ),
    "operational.weather_rolling": (
        "region_id STRING, day DATE, is_forecast BOOLEAN, temperature_avg_7d DOUBLE, temperature_avg_30d DOUBLE, precipitation_avg_7d DOUBLE, "
        "precipitation_avg_30d DOUBLE, wind_speed_avg_7d DOUBLE, wind_speed_avg_30d DOUBLE, days_in_7d INT, days_in_30d INT",
        "years(day)",
    ),
    "curated.market_events": (
        "event_id STRING, seq BIGINT, region STRING, instrument STRING, price DOUBLE, volume DOUBLE, ts TIMESTAMP, venue STRING, side STRING, "
        "tags ARRAY<STRING>, day DATE, hour INT, _kafka_partition INT, _offset BIGINT, _raw_key STRING",
        "day",
    ),
    "operational.market_daily": (
        "region STRING, day DATE, events BIGINT, instruments INT, volume DOUBLE, avg_price DOUBLE, vwap DOUBLE, market_interest DOUBLE",
        "years(day)",
    ),
}

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PARTITION = re.compile(r"^(?:(years|months|days)\((\w+)\)|(\w+))$")


def log(line):
    """A line of the job's log (stderr: stdout carries the result line only)."""
    print(f"tempolake: {line}", file=sys.stderr, flush=True)


def error_text(exc, causes=False):
    """A JVM exception's own class and message rather than Py4J's "An error occurred while
    calling"; with ``causes``, its causes' too, one a line."""
    java = getattr(exc, "java_exception", None)
    if java is None:
        return str(exc)
    lines = []
    try:
        while java is not None and len(lines) < 10:
            lines.append(str(java.toString()))
            java = java.getCause() if causes else None
    except Exception:  # noqa: BLE001 - the gateway may be gone
        pass
    return "\n".join(lines) or str(exc)


def job_input(argv, prog):
    """The job's ``--input '<json object>'``; anything else is bad input."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--input", required=True, help="the job's input as a JSON object")
    args = parser.parse_args(argv)
    try:
        value = json.loads(args.input)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"--input is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadInputError("--input must be a JSON object")
    return value


def check_day(value, what):
    """A calendar day YYYY-MM-DD (lib/time/days.ts assertDay)."""
    if not isinstance(value, str) or not _DAY.match(value):
        raise BadInputError(f'{what} must be a date as YYYY-MM-DD, got "{value}"')
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        raise BadInputError(f'{what} must be a date as YYYY-MM-DD, got "{value}"') from None
    return value


def add_days(day, n):
    return (datetime.date.fromisoformat(day) + datetime.timedelta(days=n)).isoformat()


def check_lineage(value):
    """``{workflowId, runId, inputs: [{key, sha256}]}`` (lib/lake/publish.ts Lineage)."""
    if not isinstance(value, dict) or not isinstance(value.get("workflowId"), str) or not isinstance(value.get("runId"), str):
        raise BadInputError("lineage must be {workflowId, runId, inputs}")
    inputs = value.get("inputs", [])
    if not isinstance(inputs, list):
        raise BadInputError("lineage.inputs must be a list")
    return {"workflowId": value["workflowId"], "runId": value["runId"], "inputs": inputs}


def check_regions(value):
    """``regions``: omitted (None: every region) or a list of region ids."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise BadInputError("regions must be a list of region ids")
    return value


def ensure_tables(spark, names):
    """Creates the namespaces and tables (of LAKE_TABLES) that do not exist yet."""
    for namespace in sorted({n.split(".")[0] for n in names}):
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{namespace}")
    for name in names:
        columns, partition = LAKE_TABLES[name]
        ddl_columns = ", ".join(_quote_column(c) for c in _split_columns(columns))
        match = _PARTITION.match(partition) if partition else None
        if partition and not match:
            raise ValueError(f"bad partition {partition} for {name}")
        spec = ""
        if match:
            spec = f" PARTITIONED BY ({match.group(1)}(`{match.group(2)}`))" if match.group(1) else f" PARTITIONED BY (`{match.group(3)}`)"
        sql = f"CREATE TABLE IF NOT EXISTS {CATALOG}.{name} ({ddl_columns}) USING iceberg{spec} TBLPROPERTIES ('format-version' = '2')"
        try:
            spark.sql(sql)
        except Exception as exc:  # a worker that lost the race to create it: it is there now
            if "AlreadyExists" not in str(exc) and "already exists" not in str(exc):
                raise


def _split_columns(columns):
    """'a STRING, b ARRAY<STRING>' → ['a STRING', 'b ARRAY<STRING>'] (commas inside <> kept)."""
    out, depth, current = [], 0, ""
    for ch in columns:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += ch
    out.append(current.strip())
    return out


def _quote_column(definition):
    name, kind = definition.split(" ", 1)
    return f"`{name}` {kind}"


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


def day_lit(day):
    return F.lit(day).cast("date")


def days_between(column, start, end):
    return F.col(column).between(day_lit(start), day_lit(end))


def _iceberg_table(spark, target):
    return spark._jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, target)


def current_snapshot_id(spark, target):
    snapshot = _iceberg_table(spark, target).currentSnapshot()
    return None if snapshot is None else int(snapshot.snapshotId())


def partition_aligned_scope(spark, target, day_range):
    """A filter on whole partitions of ``target`` that covers the days of ``day_range`` ((from, to)
    on column ``day``), from the table's partition spec: years(day) → the whole years,
    months(day) → the whole months, identity/days(day) → the days. None: the whole table (an
    unpartitioned table, or a spec on other columns)."""
    spec = _iceberg_table(spark, target).spec()
    if day_range is None or spec.isUnpartitioned():
        return None
    schema = _iceberg_table(spark, target).schema()
    start, end = (datetime.date.fromisoformat(d) for d in day_range)
    for field in spec.fields():
        source = schema.findColumnName(field.sourceId())
        transform = str(field.transform().toString())
        if source != "day":
            return None
        if transform == "year":
            start, end = start.replace(month=1, day=1), end.replace(month=12, day=31)
        elif transform == "month":
            start = start.replace(day=1)
            end = (end.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(days=1)
        elif transform not in ("identity", "day"):
            return None
    return days_between("day", start.isoformat(), end.isoformat())


# Iceberg's messages for a commit that lost a race: the catalog's 409, or a validation that
# found files committed since the snapshot the write read.
_CONFLICTS = ("CommitFailedException", "Found conflicting", "Found new conflicting", "found new delete for replaced data file", "Missing required files to delete")


def _is_conflict(exc):
    return any(s in str(exc) for s in _CONFLICTS)


def _is_partial_file(exc):
    return "Cannot delete file where some, but not all, rows match filter" in str(exc)


def replace_scope(spark, *, table, scope, day_range, rows, scope_text, ingest_day, lineage, max_attempts=8):
    """Replaces the rows of ``table`` (``namespace.name``) where ``scope`` (a Column) holds with
    ``rows`` in ONE Iceberg commit (readers see the old rows or the new, never a mix; a re-run
    replaces instead of adding), then appends one lineage row — the same rows and lineage as
    lib/lake/publish.ts publishPartition. ``day_range`` (from, to): the days on column ``day``
    the scope lies in (None: anywhere).

    Iceberg's overwrite-by-filter deletes whole data files only, and refuses a file holding rows
    both inside and outside the filter (a year partition when the scope is some days, or some
    regions; an hour of a compacted day). Then the commit overwrites the scope's whole
    partitions instead, writing back their rows outside the scope, read at the snapshot the
    commit is validated from. A commit that lost a race (a concurrent commit in the scope's
    partitions) is redone, rows recomputed, up to ``max_attempts`` times; ``rows`` is a
    DataFrame, so each attempt reads its inputs afresh. ``lineage`` None: no lineage row (an
    analysis result).
    """
    target = f"{CATALOG}.{table}"
    in_scope = F.coalesce(scope, F.lit(False))
    started = time.time()
    whole_partitions = False
    retries = 0
    while True:
        snapshot = current_snapshot_id(spark, target)
        data = tempolake_publish.conform(spark, target, rows).persist()
        try:
            row_count = data.count()
            aligned = partition_aligned_scope(spark, target, day_range)
            partitions = aligned if aligned is not None else F.lit(True)
            # The table as of the snapshot the commit is validated from, with each row's data file.
            current = spark.sql(f"SELECT _file AS tempolake_file, * FROM {target} VERSION AS OF {snapshot}") if snapshot is not None else None
            partial = whole_partitions and current is not None
            if current is not None and not partial:
                # Files holding rows on both sides of the scope (rows a delete file hides aside).
                partial = (
                    current.where(partitions)
                    .groupBy("tempolake_file")
                    .agg(F.count_if(in_scope).alias("hit"), F.count(F.lit(1)).alias("n"))
                    .where((F.col("hit") > 0) & (F.col("hit") < F.col("n")))
                    .limit(1)
                    .count()
                    > 0
                )
            if partial:
                kept = current.where(partitions & ~in_scope).select(*data.columns)
                out, condition = data.unionByName(kept), partitions
            else:
                out, condition = data, scope
            writer = out.writeTo(target)
            properties = {"tempolake.scope": scope_text, "tempolake.engine": "spark"}
            if lineage is not None:
                properties.update({"tempolake.workflow-id": lineage["workflowId"], "tempolake.run-id": lineage["runId"]})
            for key, value in properties.items():
                writer = writer.option(f"snapshot-property.{key}", value)
            if snapshot is not None:
                # Fails the commit if another one added or deleted files under the filter meanwhile.
                writer = writer.option("validate-from-snapshot-id", str(snapshot)).option("isolation-level", "serializable")
            t_write = time.time()
            writer.overwrite(condition)
            log(
                f"{table} {scope_text}: {row_count} rows in one commit"
                f"{' (whole partitions rewritten: a data file held rows outside the scope)' if partial else ''};"
                f" computed in {t_write - started:.1f} s, written in {time.time() - t_write:.1f} s"
            )
            break
        except Exception as exc:  # noqa: BLE001 - only the two known cases are redone
            if _is_partial_file(exc) and not whole_partitions:
                # Rows that a delete file hides still count in Iceberg's check: whole partitions then.
                whole_partitions = True
                continue
            if not _is_conflict(exc) or retries + 1 >= max_attempts:
                raise
            retries += 1
            time.sleep(min(2.0, 0.05 * 2**retries) * (0.5 + random.random()))
        finally:
            data.unpersist()
    if lineage is not None:
        append_lineage(spark, table=table, scope_text=scope_text, ingest_day=ingest_day, lineage=lineage, rows=row_count, rejected=0)
    return {"rows": row_count, "rejected": 0, "retries": retries}


def append_lineage(spark, *, table, scope_text, ingest_day, lineage, rows, rejected):
    """One row of lineage.commits, shaped as publishPartition writes it (inputs as JSON text,
    spelled as JavaScript's JSON.stringify spells it)."""
    inputs = json.dumps(lineage.get("inputs", []), separators=(",", ":"), ensure_ascii=False)
    row = spark.createDataFrame(
        [(table, scope_text, ingest_day, lineage["workflowId"], lineage["runId"], inputs, rows, rejected)],
        "table_name string, scope string, ingest_day string, workflow_id string, run_id string, inputs string, rows long, rejected long",
    ).select(
        "table_name", "scope", F.col("ingest_day").cast("date").alias("ingest_day"), "workflow_id", "run_id", "inputs", "rows", "rejected",
        F.current_timestamp().alias("committed_at"),
    )
    tempolake_publish.conform(spark, tempolake_publish.LINEAGE, row).writeTo(tempolake_publish.LINEAGE).append()


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
