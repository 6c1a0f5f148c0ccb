"""Probe of the local Spark engine against the lake (test/spark-local.test.ts).

Reads one Iceberg table through the REST catalog (delete files applied) and appends its
rows, doubled amounts and tagged ``engine = 'spark'``, to another table it creates when
missing; returns what it read so the caller can compare with DuckDB.

  probe.py --source probe.events --target probe.events_from_spark
  probe.py --source probe.missing_table --target …   (fails: the table does not exist)
  probe.py --raise "message"                          (fails with a ValueError of its own)
"""

import argparse

import tempolake_spark  # first: it records when Python started


def main(spark, argv):
    parser = argparse.ArgumentParser(prog="probe.py")
    parser.add_argument("--source")
    parser.add_argument("--target")
    parser.add_argument("--raise", dest="raise_message")
    args = parser.parse_args(argv)
    if args.raise_message:
        raise ValueError(args.raise_message)

    source = spark.table(f"{tempolake_spark.CATALOG}.{args.source}")
    # Instants as µs since the epoch: collect() would turn them into naive local datetimes.
    rows = source.selectExpr("id", "amount", "unix_micros(ts) AS ts_us", "day").orderBy("id").collect()
    delete_files = spark.sql(f"SELECT count(*) AS n FROM {tempolake_spark.CATALOG}.{args.source}.delete_files").first()["n"]
    types = {f.name: f.dataType.simpleString() for f in source.schema.fields}

    target = f"{tempolake_spark.CATALOG}.{args.target}"
    spark.sql(
        f"""CREATE TABLE IF NOT EXISTS {target}
            (id BIGINT, amount DOUBLE, ts TIMESTAMP, day DATE, engine STRING)
            USING iceberg PARTITIONED BY (day)"""
    )
    spark.sql(
        f"""INSERT INTO {target}
            SELECT CAST(id AS BIGINT), amount * 2, ts, day, 'spark' FROM {tempolake_spark.CATALOG}.{args.source}"""
    )
    snapshot = spark.sql(f"SELECT snapshot_id, operation FROM {target}.snapshots ORDER BY committed_at DESC LIMIT 1").first()

    return {
        "rows": len(rows),
        "ids": [r["id"] for r in rows],
        "sum_amount": sum(r["amount"] for r in rows),
        "ts_us": [r["ts_us"] for r in rows],
        "days": sorted({r["day"].isoformat() for r in rows}),
        "types": types,
        "delete_files": delete_files,
        "target_snapshot": str(snapshot["snapshot_id"]),
        "target_operation": snapshot["operation"],
    }


if __name__ == "__main__":
    tempolake_spark.run_job(main, app_name="tempolake-probe")
