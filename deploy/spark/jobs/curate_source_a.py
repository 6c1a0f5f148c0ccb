"""A raw day of source A (nested JSON lines) → curated.source_a: Spark's curateDay for source A
(lib/curate/curate-day.ts, lib/curate/source-a.ts), the same rows, rejected records and lineage.

  curate_source_a.py --input '{"ingestDay": "2021-10-04", "curatedDay": "2021-10-01",
      "files": [{"rawKey": "raw/source_a/day=2021-10-04/activity_2021-10-04.jsonl",
                 "location": "/…/lake/raw/source_a/day=2021-10-04/activity_2021-10-04.jsonl"}],
      "lineage": {"workflowId": "…", "runId": "…", "inputs": [{"key": "…", "sha256": "…"}]}}'

``location``: where Spark reads the file (a local path or ``file://`` URL, or ``s3://bucket/key``
read through s3a); ``rawKey``: what ``_raw_key`` and the rejected records name.

Every line that is not blank is a record and lands in exactly one place. A record is curated
when it is a JSON object whose event_id, customer_id, region, event_time and amount are present,
event_time casts to a timestamp and amount to a double; otherwise it is rejected with the first
reason that applies, in DuckDB's words and order (``reasonOf`` in lib/curate/source-a.ts), its
physical line number (blank lines counted, as the DuckDB path's byte scan counts them) and its
text. Values are typed from the JSON text as DuckDB types them: strings as written (a number or
an object as its JSON text), ``attributes.tags`` as an array of strings.

The rows replace ``day = curatedDay`` in ONE commit, then the ingestion's rejected records are
replaced and one lineage row (scope ``day=<curatedDay>``, ingest_day = ingestDay) appended, as
publishPartition does. Curated + rejected must equal the records counted by a separate pass
over the lines, or nothing is committed. Returns ``{rows, rejected, retries, records, lines}``.

Line numbers without a single-threaded read: each line carries its file, the start of the file
block (split) it was read from, and ``monotonically_increasing_id``, which counts up by one per
line within a task; a block is read whole by one task, so a line's number is the lines of the
file's earlier blocks plus its distance from its block's first id.

Known differences from DuckDB, on input the sources do not send: a JSON object followed by more
text on the same line is curated (DuckDB rejects it as not JSON); an object with a duplicate key
is rejected as not a JSON object (DuckDB keeps one of the values); an amount of true or false is
rejected as not a number (DuckDB's typed reader curates it as 1 or 0); bytes that are not UTF-8
become U+FFFD here, where DuckDB fails the file.
"""

import sys

import tempolake_spark  # first: it records when Python started

# The job's own modules beside it: no __pycache__ folder written into the jobs folder.
sys.dont_write_bytecode = True

from pyspark import StorageLevel  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from tempolake_job import check_day, check_files, check_lineage, day_lit, job_input, log, raw_lines  # noqa: E402
from tempolake_publish import ensure_tables, replace_scope  # noqa: E402

SOURCE = "source_a"
TABLE = "curated.source_a"
REQUIRED = ("event_id", "customer_id", "region", "event_time", "amount")
# RE2's \s, as the DuckDB path's line scan decides a blank line (lib/curate/line-scan.ts).
BLANK = r"^[ \t\r\f]*$"


def lines_of(spark, files):
    """Every physical line of the files: (raw_key, block, id, text, blank), ``id`` taken before any filter."""
    lines = raw_lines(spark, files)
    text = F.regexp_replace("value", "\r$", "")
    return lines.select("raw_key", "block", "id", text.alias("text"), F.col("value").rlike(BLANK).alias("blank"))


def line_offsets(spark, lines):
    """Per (file, block): its first id and the file's lines before it; and the records (non-blank
    lines) of all files — one pass over the text, no JSON parsed."""
    blocks = (
        lines.groupBy("raw_key", "block")
        .agg(F.min("id").alias("first_id"), F.count(F.lit(1)).alias("lines"), F.count_if(~F.col("blank")).alias("records"))
        .collect()
    )
    rows, before = [], {}
    for b in sorted(blocks, key=lambda b: (b["raw_key"], b["block"])):
        offset = before.get(b["raw_key"], 0)
        rows.append((b["raw_key"], b["block"], b["first_id"], offset))
        before[b["raw_key"]] = offset + b["lines"]
    offsets = spark.createDataFrame(rows, "raw_key string, block long, first_id long, line_offset long")
    return offsets, sum(b["records"] for b in blocks), sum(before.values())


# Every top-level field as a string: a number or an object comes back as its JSON text (as
# DuckDB's VARCHAR does), so no value can fail its type, and ``_corrupt`` is set exactly when the
# line is not a JSON object. Strict JSON: no single quotes, no NaN.
RECORD = (
    "event_id STRING, customer_id STRING, region STRING, event_time STRING, amount STRING, currency STRING, channel STRING, "
    "attributes STRING, _corrupt STRING"
)
ATTRIBUTES = "device STRING, campaign STRUCT<id: STRING, name: STRING>, tags ARRAY<STRING>"
JSON_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt", "allowSingleQuotes": "false", "allowNonNumericNumbers": "false"}


def judged(lines):
    """The records (non-blank lines), each parsed once: the reason it is rejected for (NULL:
    curated), its typed values, and its text when rejected."""
    parsed = lines.where(~F.col("blank")).select("raw_key", "block", "id", "text", F.from_json("text", RECORD, JSON_OPTIONS).alias("j"))
    j = {name: F.col(f"j.{name}") for name in REQUIRED}
    event_time = j["event_time"].try_cast("timestamp")
    amount = j["amount"].try_cast("double")
    reason = F.when(F.col("j._corrupt").isNotNull(), F.lit("not a JSON object"))
    for name in REQUIRED:
        reason = reason.when(j[name].isNull(), F.lit(f"missing {name}"))
        if name == "event_time":
            reason = reason.when(event_time.isNull(), F.concat(F.lit("event_time is not a timestamp: "), j[name]))
        if name == "amount":
            reason = reason.when(amount.isNull(), F.concat(F.lit("amount is not a number: "), j[name]))
    attributes = F.from_json("j.attributes", ATTRIBUTES, {"mode": "PERMISSIVE"})
    return parsed.select(
        "raw_key",
        "block",
        "id",
        reason.alias("reason"),
        j["event_id"].alias("event_id"),
        j["customer_id"].alias("customer_id"),
        j["region"].alias("region"),
        event_time.alias("event_time"),
        amount.alias("amount"),
        F.col("j.currency").alias("currency"),
        F.col("j.channel").alias("channel"),
        attributes.alias("attributes"),
        "text",
    ).select(
        "*",
        F.col("attributes.device").alias("device"),
        F.col("attributes.campaign.id").alias("campaign_id"),
        F.col("attributes.campaign.name").alias("campaign_name"),
        F.col("attributes.tags").alias("tags"),
        # The text is kept for the few rejected lines only: the cached verdicts stay small.
        F.when(F.col("reason").isNotNull(), F.col("text")).alias("record"),
    ).drop("attributes", "text")


def main(spark, argv):
    value = job_input(argv, "curate_source_a.py")
    ingest_day = check_day(value.get("ingestDay"), "ingestDay")
    curated_day = check_day(value.get("curatedDay"), "curatedDay")
    files = check_files(value.get("files"))
    lineage = check_lineage(value.get("lineage"))
    ensure_tables(spark, [TABLE, "rejected.records", "lineage.commits"])

    lines = lines_of(spark, files)
    offsets, records, physical_lines = line_offsets(spark, lines)
    log(f"{len(files)} file(s), {physical_lines} lines, {records} records")
    # Parsed once: the record count check, the rejected records and the rows all read this.
    verdicts = judged(lines).persist(StorageLevel.MEMORY_AND_DISK)
    rows = verdicts.where(F.col("reason").isNull()).select(
        "event_id", "customer_id", "region", "event_time", "amount", "currency", "channel", "device", "campaign_id", "campaign_name", "tags",
        day_lit(curated_day).alias("day"),
        day_lit(ingest_day).alias("_ingest_day"),
        F.col("raw_key").alias("_raw_key"),
    )
    rejected = (
        verdicts.where(F.col("reason").isNotNull())
        .join(F.broadcast(offsets), ["raw_key", "block"])
        .select("raw_key", (F.col("line_offset") + F.col("id") - F.col("first_id") + 1).alias("line"), "reason", "record")
    )
    try:
        published = replace_scope(
            spark,
            table=TABLE,
            scope=F.col("day") == day_lit(curated_day),
            day_range=(curated_day, curated_day),
            rows=rows,
            scope_text=f"day={curated_day}",
            ingest_day=ingest_day,
            lineage=lineage,
            rejected={"source": SOURCE, "rows": rejected},
            expected_records=records,
            cache_rows=False,
        )
    finally:
        verdicts.unpersist()
    return {**published, "records": records, "lines": physical_lines}


if __name__ == "__main__":
    tempolake_spark.run_job(main, app_name="tempolake-curate_source_a")
