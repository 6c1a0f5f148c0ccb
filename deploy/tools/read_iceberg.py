"""Reads one Iceberg table through a REST catalog with PyIceberg and prints a summary as JSON.

An engine the project did not write, used to check that what DuckDB commits is standard
Iceberg: the schema as Iceberg types, the row count with delete files applied, and
aggregates (sums of numeric columns, min/max of temporal ones) to compare values, not
just counts.

The request comes as one JSON object on stdin (so S3 keys never show in `ps`):
  {"uri": "http://127.0.0.1:8181", "table": "curated.source_a",
   "properties": {"s3.endpoint": "...", ...}, "row_filter": "day = '2021-10-01'", "sample": 3}
"""

import datetime
import decimal
import json
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyiceberg
from pyiceberg.catalog import load_catalog
from pyiceberg.types import (
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    TimestampType,
    TimestamptzType,
)

NUMERIC = (IntegerType, LongType, FloatType, DoubleType, DecimalType)
TEMPORAL = (DateType, TimestampType, TimestamptzType)


def plain(value):
    """A JSON-friendly form of a scalar PyArrow gives back."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc)
        return value.isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def epoch_us(scalar):
    """Microseconds since the epoch of a timestamp scalar (None for dates and nulls)."""
    if not scalar.is_valid or not pa.types.is_timestamp(scalar.type):
        return None
    factor = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}[scalar.type.unit]
    return scalar.value // 1_000 if factor is None else scalar.value * factor


def main():
    request = json.load(sys.stdin)
    catalog = load_catalog("lake", **{"type": "rest", "uri": request["uri"], **request.get("properties", {})})
    table = catalog.load_table(request["table"])
    schema = table.schema()
    scan = table.scan(row_filter=request["row_filter"]) if request.get("row_filter") else table.scan()

    tasks = list(scan.plan_files())
    delete_files = {d.file_path for t in tasks for d in t.delete_files}

    numeric = [f.name for f in schema.fields if isinstance(f.field_type, NUMERIC)]
    temporal = [f.name for f in schema.fields if isinstance(f.field_type, TEMPORAL)]
    sums = {name: None for name in numeric}
    mins = {name: None for name in temporal}
    maxs = {name: None for name in temporal}
    rows = 0
    sample = []
    want_sample = int(request.get("sample") or 0)

    # Batch by batch: a day of a big source does not have to fit in memory.
    for batch in scan.to_arrow_batch_reader():
        rows += batch.num_rows
        if batch.num_rows == 0:
            continue
        for name in numeric:
            s = pc.sum(batch.column(name)).as_py()
            if s is not None:
                sums[name] = s if sums[name] is None else sums[name] + s
        for name in temporal:
            mm = pc.min_max(batch.column(name))
            lo, hi = mm["min"], mm["max"]
            if lo.is_valid and (mins[name] is None or pc.less(lo, mins[name]).as_py()):
                mins[name] = lo
            if hi.is_valid and (maxs[name] is None or pc.greater(hi, maxs[name]).as_py()):
                maxs[name] = hi
        if len(sample) < want_sample:
            sample.extend(batch.slice(0, want_sample - len(sample)).to_pylist())

    ranges = {}
    for name in temporal:
        lo, hi = mins[name], maxs[name]
        ranges[name] = {
            "min": None if lo is None else plain(lo.as_py()),
            "max": None if hi is None else plain(hi.as_py()),
            "min_epoch_us": None if lo is None else epoch_us(lo),
            "max_epoch_us": None if hi is None else epoch_us(hi),
        }

    snapshot = table.current_snapshot()
    out = {
        "engine": f"pyiceberg {pyiceberg.__version__} (pyarrow {pa.__version__})",
        "table": request["table"],
        "format_version": table.metadata.format_version,
        "snapshot_id": None if snapshot is None else str(snapshot.snapshot_id),
        "rows": rows,
        "schema": [{"name": f.name, "type": str(f.field_type), "required": f.required} for f in schema.fields],
        "partition_spec": str(table.spec()),
        "data_files": len(tasks),
        "delete_files": len(delete_files),
        "sums": {k: plain(v) for k, v in sums.items()},
        "ranges": ranges,
    }
    if want_sample:
        out["sample"] = [plain(r) for r in sample]
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
