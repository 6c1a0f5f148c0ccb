"""What every tempolake job does with its input and its log: the ``--input`` JSON, checked days
and lineage, and the error that says the input is bad (the job exits 2 and is not retried).
"""

import argparse
import datetime
import json
import re
import sys

from pyspark.sql import functions as F


class BadInputError(Exception):
    """Input that no retry will fix (an unreadable file, an unknown region): the caller fails non-retryably."""


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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


def day_lit(day):
    return F.lit(day).cast("date")


def days_between(column, start, end):
    return F.col(column).between(day_lit(start), day_lit(end))


def readable(location):
    """The path Spark reads for a raw file's location: S3 through s3a (Hadoop's s3:// scheme has no file system)."""
    return "s3a:" + location[len("s3:") :] if location.startswith("s3://") else location


def check_files(value):
    """``files``: [{rawKey, location}], each file once."""
    if not isinstance(value, list) or not value:
        raise BadInputError("files must be a non-empty list of {rawKey, location}")
    files = []
    for i, f in enumerate(value):
        if not isinstance(f, dict) or not isinstance(f.get("rawKey"), str) or not isinstance(f.get("location"), str):
            raise BadInputError(f"files[{i}] must be {{rawKey, location}}")
        files.append({"rawKey": f["rawKey"], "location": f["location"]})
    if len({f["rawKey"] for f in files}) != len(files):
        raise BadInputError("files name a raw key twice")
    return files


def raw_lines(spark, files):
    """Every physical line of the files: (raw_key, block, id, value), ``id`` taken before any filter;
    ``value`` keeps a line's CR (and bytes that are not UTF-8, as they are)."""
    scans = [
        spark.read.option("lineSep", "\n")
        .text(readable(f["location"]))
        .select(F.lit(f["rawKey"]).alias("raw_key"), F.col("_metadata.file_block_start").alias("block"), "value")
        for f in files
    ]
    lines = scans[0]
    for scan in scans[1:]:
        lines = lines.unionByName(scan)
    return lines.select("raw_key", "block", F.monotonically_increasing_id().alias("id"), "value")
