"""An hour of source D's raw files → that hour of curated.market_events: Spark's
compactMarketHour (lib/market/compact.ts), the same rows, regions and lineage.

  compact_market_hour.py --input '{"day": "2024-03-31", "hour": 0,
      "files": [{"key": "raw/source_d/day=2024-03-31/hour=00/market.events+0+000000000000.jsonl",
                 "location": "/…/lake/raw/source_d/day=2024-03-31/hour=00/market.events+0+000000000000.jsonl"}],
      "lineage": {"workflowId": "…", "runId": "…", "inputs": []}}'

``files``: the hour's raw files, as the caller lists them from the lake store (keys under
``raw/source_d/day=D/hour=HH/`` ending in ``.jsonl``, in key order) with each one's location
(``store.locationOf(key)``: a local path or ``file://`` URL, or ``s3://bucket/key``, read
through s3a). The location is what ``_raw_key`` records, as DuckDB's ``filename`` does; the
keys are the lineage inputs (sha256 empty, as on the DuckDB path).

Each event once: of the copies of an event_id the one at the lowest (partition, offset) is
kept (and, where two files hold that same copy, the first location: DuckDB's pick is then
arbitrary), only events whose own timestamp lies in the hour. The rows replace (day, hour) in
ONE commit, then one lineage row (scope ``day=D hour=HH``, ingest_day D); then the regions not
known yet join operational.regions (no coordinates, origin source_d) in one commit. No file:
nothing is committed. A raw line that is not an event's JSON fails the job as bad input.
Returns ``{day, hour, files, rawEvents, regionsAdded, rows, rejected: 0, retries}``.
"""

import re
import sys
from urllib.parse import unquote

import tempolake_spark  # first: it records when Python started

# The job's own modules beside it: no __pycache__ folder written into the jobs folder.
sys.dont_write_bytecode = True

from pyspark.sql import Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from tempolake_job import BadInputError, check_day, check_lineage, day_lit, error_text, job_input, readable  # noqa: E402
from tempolake_publish import CATALOG, ensure_tables, replace_scope  # noqa: E402

SOURCE = "source_d"
TABLE = "curated.market_events"
REGIONS = f"{CATALOG}.operational.regions"

# lib/market/compact.ts LINE_COLUMNS: the line's Kafka coordinates and the event.
LINE_SCHEMA = (
    "`partition` INT, `offset` STRING, `timestamp` STRING, `key` STRING, "
    "`event` STRUCT<event_id: STRING, seq: BIGINT, region: STRING, instrument: STRING, price: DOUBLE, volume: DOUBLE, ts: STRING, "
    "attributes: STRUCT<venue: STRING, side: STRING, tags: ARRAY<STRING>>>"
)


def canonical(location):
    """One spelling per file, to match Spark's file paths with the given locations: ``/x``,
    ``file:/x`` and ``file:///x`` are one local file; s3a:// and s3n:// name s3:// objects."""
    if location.startswith("/"):
        return "file:" + re.sub("/{2,}", "/", location)
    scheme, sep, rest = location.partition(":")
    if not sep:
        return location
    scheme = scheme.lower()
    if scheme == "file":
        if rest.startswith("//localhost/"):
            rest = rest[len("//localhost") :]
        return "file:" + re.sub("/{2,}", "/", rest)
    if scheme in ("s3a", "s3n"):
        scheme = "s3"
    return f"{scheme}:{rest}"


def check_files(value):
    if not isinstance(value, list):
        raise BadInputError("files must be a list of {key, location}")
    files = []
    for i, f in enumerate(value):
        if not isinstance(f, dict) or not isinstance(f.get("key"), str) or not isinstance(f.get("location"), str):
            raise BadInputError(f"files[{i}] must be {{key, location}}")
        files.append({"key": f["key"], "location": f["location"]})
    if len({canonical(f["location"]) for f in files}) != len(files):
        raise BadInputError("files name a location twice")
    return files


def read_lines(spark, files):
    """The raw lines with ``filename`` = the location the caller gave (URL-decoded Spark paths matched back)."""
    lines = (
        spark.read.schema(LINE_SCHEMA)
        .option("mode", "FAILFAST")
        .json([readable(f["location"]) for f in files])
        .withColumn("spark_path", F.col("_metadata.file_path"))
    )
    by_canonical = {canonical(f["location"]): f["location"] for f in files}
    # One row per file: Spark spells paths as percent-encoded URIs (file:/x, s3a://b/k).
    mapping = []
    for row in lines.select("spark_path").distinct().collect():
        path = row["spark_path"]
        location = by_canonical.get(canonical(unquote(path)))
        if location is None:
            raise RuntimeError(f"Spark read {path}, which matches no given location")
        mapping.append((path, location))
    names = spark.createDataFrame(mapping, "spark_path string, filename string")
    return lines.join(F.broadcast(names), "spark_path").drop("spark_path")


def add_regions_seen(spark, regions):
    """lib/weather/regions.ts addRegionsSeen: the ids not known yet, without coordinates, one commit."""
    if not regions:
        return []
    known = {r["region_id"] for r in spark.table(REGIONS).select("region_id").collect()}
    added = sorted(set(regions) - known)
    if not added:
        return []
    spark.createDataFrame([(r,) for r in added], "id string").createOrReplaceTempView("tempolake_regions_seen")
    # Checked again in the statement: a racing writer may have added some meanwhile.
    spark.sql(
        f"""INSERT INTO {REGIONS}
            SELECT id, id, CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS STRING), CAST(NULL AS STRING), '{{}}', '{SOURCE}', current_timestamp()
            FROM tempolake_regions_seen WHERE id NOT IN (SELECT region_id FROM {REGIONS} WHERE region_id IS NOT NULL)"""
    )
    return added


def main(spark, argv):
    value = job_input(argv, "compact_market_hour.py")
    day = check_day(value.get("day"), "day")
    hour = value.get("hour")
    if not isinstance(hour, int) or isinstance(hour, bool) or not 0 <= hour <= 23:
        raise BadInputError(f"hour must be an integer 0-23, got {hour}")
    files = check_files(value.get("files", []))
    lineage = check_lineage(value.get("lineage"))
    ensure_tables(spark, ["curated.market_events", "operational.market_daily", "lineage.commits", "operational.regions"])
    result = {"day": day, "hour": hour, "files": len(files), "rawEvents": 0, "regionsAdded": [], "rows": 0, "rejected": 0, "retries": 0}
    if not files:
        return result

    try:
        lines = read_lines(spark, files).persist()
        raw_events = lines.count()
    except Exception as exc:  # noqa: BLE001
        text = error_text(exc, causes=True)
        if "MALFORMED_RECORD" in text or "Malformed records" in text:
            reason = next((line.strip() for line in text.splitlines() if "Malformed" in line or "MALFORMED" in line), text.splitlines()[0])
            raise BadInputError(f"a raw file of {day} hour {hour:02d} holds a line that is not a market event: {reason[:500]}") from None
        raise
    try:
        regions = [r["region"] for r in lines.select(F.col("event.region").alias("region")).where("region IS NOT NULL").distinct().collect()]
        hour_start = F.lit(f"{day} {hour:02d}:00:00").cast("timestamp")
        first_copy = Window.partitionBy(F.col("event.event_id")).orderBy("partition", "offset", "filename")
        rows = (
            lines.withColumn("offset", F.col("offset").cast("bigint"))
            .withColumn("ts", F.col("event.ts").cast("timestamp"))
            # The consumer files an event under the hour of its own timestamp; anything else is not this hour's.
            .where((F.col("ts") >= hour_start) & (F.col("ts") < hour_start + F.expr("INTERVAL 1 HOUR")))
            .withColumn("copy", F.row_number().over(first_copy))
            .where(F.col("copy") == 1)
            .select(
                F.col("event.event_id").alias("event_id"),
                F.col("event.seq").alias("seq"),
                F.col("event.region").alias("region"),
                F.col("event.instrument").alias("instrument"),
                F.col("event.price").alias("price"),
                F.col("event.volume").alias("volume"),
                "ts",
                F.col("event.attributes.venue").alias("venue"),
                F.col("event.attributes.side").alias("side"),
                F.col("event.attributes.tags").alias("tags"),
                day_lit(day).alias("day"),
                F.lit(hour).cast("int").alias("hour"),
                F.col("partition").alias("_kafka_partition"),
                F.col("offset").alias("_offset"),
                F.col("filename").alias("_raw_key"),
            )
        )
        published = replace_scope(
            spark,
            table=TABLE,
            scope=(F.col("day") == day_lit(day)) & (F.col("hour") == F.lit(hour)),
            day_range=(day, day),
            rows=rows,
            scope_text=f"day={day} hour={hour:02d}",
            ingest_day=day,
            lineage={**lineage, "inputs": [{"key": f["key"], "sha256": ""} for f in files]},
        )
    finally:
        lines.unpersist()
    added = add_regions_seen(spark, regions)
    return {**result, **published, "rawEvents": raw_events, "regionsAdded": added}


if __name__ == "__main__":
    tempolake_spark.run_job(main, app_name="tempolake-compact_market_hour")
