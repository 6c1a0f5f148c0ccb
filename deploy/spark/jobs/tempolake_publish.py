"""Publishing from Spark as lib/lake/publish.ts publishes from DuckDB, and the lake's tables.

``replace_scope`` replaces a scope of a table in ONE Iceberg commit (readers see the old rows or
the new, never a mix, and a re-run replaces instead of adding). Then, as on the DuckDB path with
a JDBC catalog, the ingestion's rejected records are replaced and one lineage row is appended,
each in a commit of its own. The lineage row comes last: the caller reads it back to learn the
publish finished (on Kubernetes nothing else of the driver's output reaches it), so a job that
died before it is simply run again.
"""

import datetime
import json
import random
import re
import time

from pyspark.sql import functions as F

import tempolake_spark
from tempolake_job import day_lit, days_between, log

CATALOG = tempolake_spark.CATALOG
REJECTED = f"{CATALOG}.rejected.records"
LINEAGE = f"{CATALOG}.lineage.commits"


class RecordCountError(Exception):
    """Curated + rejected do not account for every input record: a bug, never committed."""


def conform(spark, table, df):
    """``df``'s columns in ``table``'s order and types (by name), so a write cannot misplace a column."""
    fields = spark.table(table).schema.fields
    missing = [f.name for f in fields if f.name not in df.columns]
    if missing:
        raise ValueError(f"rows for {table} lack columns {missing}")
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in fields])


# The lake's tables these jobs read or write, as lib/**/tables.ts defines them (DuckDB type →
# Spark type: VARCHAR → STRING, TIMESTAMPTZ → TIMESTAMP, INTEGER → INT, VARCHAR[] → ARRAY<STRING>;
# Iceberg stores the same types either way). Created only when missing, as ensureTables does.
_WEATHER_VARIABLES = "temperature_2m DOUBLE, relative_humidity_2m DOUBLE, precipitation DOUBLE, wind_speed_10m DOUBLE, weather_code INT"
LAKE_TABLES = {
    "curated.source_a": (
        "event_id STRING, customer_id STRING, region STRING, event_time TIMESTAMP, amount DOUBLE, currency STRING, channel STRING, "
        "device STRING, campaign_id STRING, campaign_name STRING, tags ARRAY<STRING>, day DATE, _ingest_day DATE, _raw_key STRING",
        "day",
    ),
    "curated.source_b": (
        "customer_id STRING, name STRING, email STRING, region STRING, segment STRING, signup_date DATE, updated_at TIMESTAMP, "
        "day DATE, _ingest_day DATE, _raw_key STRING, _raw_line BIGINT",
        "day",
    ),
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

_PARTITION = re.compile(r"^(?:(years|months|days)\((\w+)\)|(\w+))$")


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


def replace_scope(
    spark, *, table, scope, day_range, rows, scope_text, ingest_day, lineage, rejected=None, expected_records=None, cache_rows=True, max_attempts=8
):
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

    ``rejected`` ({source, rows}): the ingestion's rejected records (raw_key, line, reason,
    record), replacing its earlier ones in rejected.records after the data commit. With
    ``expected_records``, rows + rejected must account for every input record, or nothing is
    committed (RecordCountError). ``cache_rows`` False: ``rows`` is a cheap projection of a frame
    the caller cached, computed twice (counted, written) rather than cached a second time.
    """
    target = f"{CATALOG}.{table}"
    in_scope = F.coalesce(scope, F.lit(False))
    started = time.time()
    whole_partitions = False
    retries = 0
    rejected_rows = _rejected_rows(spark, rejected, ingest_day)
    rejected_count = 0 if rejected_rows is None else rejected_rows.count()
    while True:
        snapshot = current_snapshot_id(spark, target)
        data = conform(spark, target, rows)
        data = data.persist() if cache_rows else data
        try:
            row_count = data.count()
            if expected_records is not None and row_count + rejected_count != expected_records:
                raise RecordCountError(
                    f"{expected_records} records in the input, but {row_count} curated + {rejected_count} rejected: not committed"
                )
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
    if rejected_rows is not None:
        rejected_rows.writeTo(REJECTED).overwrite((F.col("source") == F.lit(rejected["source"])) & (F.col("ingest_day") == day_lit(ingest_day)))
        rejected_rows.unpersist()
    if lineage is not None:
        append_lineage(spark, table=table, scope_text=scope_text, ingest_day=ingest_day, lineage=lineage, rows=row_count, rejected=rejected_count)
    return {"rows": row_count, "rejected": rejected_count, "retries": retries}


def _rejected_rows(spark, rejected, ingest_day):
    """The rejected records as rejected.records rows of (source, ingest_day), persisted: counted, then written."""
    if rejected is None:
        return None
    rows = rejected["rows"].select(F.lit(rejected["source"]).alias("source"), day_lit(ingest_day).alias("ingest_day"), "raw_key", "line", "reason", "record")
    return conform(spark, REJECTED, rows).persist()


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
    conform(spark, LINEAGE, row).writeTo(LINEAGE).append()
