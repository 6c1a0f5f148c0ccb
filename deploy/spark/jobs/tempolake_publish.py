"""Publishing a partition from Spark, as lib/lake/publish.ts does from DuckDB.

The data table's scope is replaced in ONE Iceberg commit (an overwrite by filter: readers
see the old rows or the new, never a mix, and a re-run replaces instead of adding). Then,
as on the DuckDB path with a JDBC catalog, the ingestion's rejected records are replaced
and one lineage row is appended, each in a commit of its own. The lineage row comes last:
the caller reads it back to learn the publish finished (on Kubernetes nothing else of the
driver's output reaches it), so a job that died before it is simply run again.

Every input record lands in the table or in rejected.records: when ``expected_records`` is
given and rows + rejected differ from it, nothing is committed.
"""

import json

from pyspark.sql import functions as F

import tempolake_spark

REJECTED = f"{tempolake_spark.CATALOG}.rejected.records"
LINEAGE = f"{tempolake_spark.CATALOG}.lineage.commits"


class RecordCountError(Exception):
    """Curated + rejected do not account for every input record: a bug, never committed."""


class BadInputError(Exception):
    """Input that no retry will fix (an unreadable file, an unknown region): the caller fails non-retryably."""


def conform(spark, table, df):
    """``df``'s columns in ``table``'s order and types (by name), so a write cannot misplace a column."""
    fields = spark.table(table).schema.fields
    missing = [f.name for f in fields if f.name not in df.columns]
    if missing:
        raise ValueError(f"rows for {table} lack columns {missing}")
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in fields])


def publish_partition(
    spark,
    *,
    table,
    source,
    ingest_day,
    replace_where,
    scope,
    rows,
    lineage,
    rejected=None,
    expected_records=None,
):
    """Replaces ``replace_where`` of ``table`` (``namespace.name``) with ``rows``; returns counts.

    ``rejected``: a DataFrame of (raw_key, line, reason, record) replacing the ingestion's
    (source, ingest_day) earlier rejected records. ``lineage``: {workflowId, runId, inputs}.
    """
    target = f"{tempolake_spark.CATALOG}.{table}"
    data = conform(spark, target, rows).persist()
    try:
        row_count = data.count()
        rejected_rows = None
        rejected_count = 0
        if rejected is not None:
            rejected_rows = conform(
                spark,
                REJECTED,
                rejected.select(
                    F.lit(source).alias("source"),
                    F.lit(ingest_day).cast("date").alias("ingest_day"),
                    "raw_key",
                    "line",
                    "reason",
                    "record",
                ),
            ).persist()
            rejected_count = rejected_rows.count()
        if expected_records is not None and row_count + rejected_count != expected_records:
            raise RecordCountError(
                f"{expected_records} records in the input, but {row_count} curated + {rejected_count} rejected: not committed"
            )
        props = {
            "tempolake.workflow-id": lineage["workflowId"],
            "tempolake.run-id": lineage["runId"],
            "tempolake.scope": scope,
            "tempolake.engine": "spark",
        }
        writer = data.writeTo(target)
        for key, value in props.items():
            writer = writer.option(f"snapshot-property.{key}", value)
        writer.overwrite(F.expr(replace_where))
        if rejected_rows is not None:
            rejected_rows.writeTo(REJECTED).overwrite(
                (F.col("source") == F.lit(source)) & (F.col("ingest_day") == F.lit(ingest_day).cast("date"))
            )
        lineage_row = spark.createDataFrame(
            [(table, scope, ingest_day, lineage["workflowId"], lineage["runId"], json.dumps(lineage.get("inputs", []), separators=(",", ":")), row_count, rejected_count)],
            "table_name string, scope string, ingest_day string, workflow_id string, run_id string, inputs string, rows long, rejected long",
        ).withColumn("committed_at", F.current_timestamp())
        conform(spark, LINEAGE, lineage_row.withColumn("ingest_day", F.col("ingest_day").cast("date"))).writeTo(LINEAGE).append()
        return {"rows": row_count, "rejected": rejected_count, "retries": 0}
    finally:
        data.unpersist()
