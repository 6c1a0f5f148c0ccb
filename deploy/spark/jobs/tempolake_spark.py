"""The shared start and end of every tempolake Spark job.

A job script imports this module first, writes ``main(spark, args) -> dict`` and ends with
``run_job(main)``. The session it gets reads and writes the lake's Iceberg tables through
the same REST catalog as DuckDB, as the catalog ``lake`` (also the default catalog, so
``curated.source_a`` and ``lake.curated.source_a`` name the same table).

Where the catalog is comes from the environment, set by lib/spark/submit.ts from the
project's config (on Kubernetes, from the SparkApplication's env); nothing is hard-coded
and S3 keys never appear on a command line:

  TEMPOLAKE_CATALOG_URI        REST catalog endpoint, e.g. http://127.0.0.1:8181
  TEMPOLAKE_CATALOG_WAREHOUSE  warehouse location (file:///… or s3://bucket/prefix/warehouse)
  TEMPOLAKE_S3_ENDPOINT        S3 endpoint (MinIO locally); with the next three, only
  TEMPOLAKE_S3_ACCESS_KEY_ID   needed when the warehouse is on S3
  TEMPOLAKE_S3_SECRET_ACCESS_KEY
  TEMPOLAKE_S3_REGION
  TEMPOLAKE_S3_PATH_STYLE      "true" (default, MinIO) or "false" (virtual-hosted AWS buckets)

The same S3 settings configure Hadoop's s3a file system, through which jobs read raw files at
``s3://bucket/key`` locations (as ``s3a://``, tempolake_job.readable): the tables' S3FileIO
is Iceberg's own and reads no Hadoop setting. s3a (hadoop-aws) uses the AWS SDK v2 that
iceberg-aws-bundle holds, with the two SDK modules it lacks (deploy/infra/spark/pom.xml).

The job's outcome is one line on stdout: ``TEMPOLAKE_RESULT {json}`` on success, or
``TEMPOLAKE_ERROR {json}`` (exception type and message) before a non-zero exit, with the
traceback on stderr. Logs go to stderr; stdout carries nothing else the caller reads.
"""

import json
import os
import sys
import time
import traceback

# Before pyspark's import: the caller subtracts its spawn time from this to time the JVM's start.
PYTHON_STARTED_AT = time.time()

from pyspark.sql import SparkSession  # noqa: E402

RESULT_PREFIX = "TEMPOLAKE_RESULT "
ERROR_PREFIX = "TEMPOLAKE_ERROR "
CATALOG = "lake"

_S3_SETTINGS = {
    "s3.endpoint": "TEMPOLAKE_S3_ENDPOINT",
    "s3.access-key-id": "TEMPOLAKE_S3_ACCESS_KEY_ID",
    "s3.secret-access-key": "TEMPOLAKE_S3_SECRET_ACCESS_KEY",
    "client.region": "TEMPOLAKE_S3_REGION",
}


class JobConfigError(Exception):
    """A setting the job needs is missing from its environment."""


def _required(name):
    value = os.environ.get(name, "")
    if not value:
        raise JobConfigError(f"{name} is not set: the job cannot find the lake's catalog")
    return value


def catalog_properties(env=None):
    """Properties of the ``lake`` Iceberg REST catalog, from the environment."""
    env = os.environ if env is None else env
    warehouse = _required("TEMPOLAKE_CATALOG_WAREHOUSE")
    props = {
        "type": "rest",
        "uri": _required("TEMPOLAKE_CATALOG_URI"),
        "warehouse": warehouse,
    }
    if warehouse.startswith("s3://") or warehouse.startswith("s3a://"):
        # The local catalog hands out no credentials: the client brings its own endpoint and keys.
        props["io-impl"] = "org.apache.iceberg.aws.s3.S3FileIO"
        props["s3.path-style-access"] = env.get("TEMPOLAKE_S3_PATH_STYLE", "true") or "true"
        for prop, name in _S3_SETTINGS.items():
            props[prop] = _required(name)
    # A file:// warehouse keeps the catalog's default FileIO (Hadoop's local file system).
    return props


def s3a_properties(env=None):
    """Hadoop s3a settings (``fs.s3a.*``) from the same environment as the catalog's S3, or
    none without TEMPOLAKE_S3_ENDPOINT. Keys are optional here: without them s3a falls back on
    its default credential chain (an instance role on AWS)."""
    env = os.environ if env is None else env
    endpoint = env.get("TEMPOLAKE_S3_ENDPOINT", "")
    if not endpoint:
        return {}
    # No fs.s3a.impl: Hadoop's core-default.xml maps s3a:// to S3AFileSystem already.
    props = {
        "fs.s3a.endpoint": endpoint,
        "fs.s3a.path.style.access": env.get("TEMPOLAKE_S3_PATH_STYLE", "true") or "true",
        # The endpoint's scheme decides (MinIO locally is plain http); a bare host means https.
        "fs.s3a.connection.ssl.enabled": "false" if endpoint.lower().startswith("http://") else "true",
    }
    if env.get("TEMPOLAKE_S3_REGION"):
        props["fs.s3a.endpoint.region"] = env["TEMPOLAKE_S3_REGION"]
    if env.get("TEMPOLAKE_S3_ACCESS_KEY_ID") and env.get("TEMPOLAKE_S3_SECRET_ACCESS_KEY"):
        props["fs.s3a.access.key"] = env["TEMPOLAKE_S3_ACCESS_KEY_ID"]
        props["fs.s3a.secret.key"] = env["TEMPOLAKE_S3_SECRET_ACCESS_KEY"]
    return props


def lake_session(app_name=None):
    """A SparkSession with the Iceberg extensions and the lake's REST catalog as ``lake``,
    and s3a set up for raw files on S3."""
    builder = (
        SparkSession.builder.appName(app_name or os.path.basename(sys.argv[0]) or "tempolake")
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config(f"spark.sql.catalog.{CATALOG}", "org.apache.iceberg.spark.SparkCatalog")
        .config("spark.sql.defaultCatalog", CATALOG)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
    )
    for key, value in catalog_properties().items():
        builder = builder.config(f"spark.sql.catalog.{CATALOG}.{key}", value)
    # Set in the session's conf, not on spark-submit's command line: the keys stay off `ps`,
    # and Spark redacts them (spark.redaction.regex) wherever it shows its conf.
    for key, value in s3a_properties().items():
        builder = builder.config(f"spark.hadoop.{key}", value)
    return builder.getOrCreate()


def emit_result(result):
    """Prints the job's one result line (a JSON object) on stdout."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _exception_summary(exc):
    """The exception's type and a short message: a JVM exception's own class and text, not Py4J's wrapper."""
    kind = type(exc).__name__
    message = str(exc)
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            kind = f"{kind}({java.getClass().getName()})"
            message = java.toString()
        except Exception:  # the gateway may already be gone
            pass
    lines = [line for line in message.strip().splitlines() if line.strip()]
    # Spark's analysis errors append the whole logical plan: the first lines say what went wrong.
    return kind, "\n".join(lines[:8])[:4000]


def report_error(exc):
    """Prints the traceback on stderr and one ``TEMPOLAKE_ERROR`` line on stdout."""
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    sys.stderr.flush()
    kind, message = _exception_summary(exc)
    line = json.dumps({"type": kind, "message": message}, separators=(",", ":"))
    sys.stdout.write(ERROR_PREFIX + line + "\n")
    sys.stdout.flush()
    # On Kubernetes nobody reads the driver's stdout: the container's termination message
    # (the pod's status, at most 4 KB) is where the submitting activity finds what failed.
    path = os.environ.get("TEMPOLAKE_TERMINATION_LOG", "/dev/termination-log")
    if os.path.isdir(os.path.dirname(path) or "/") and (os.path.exists(path) or path != "/dev/termination-log"):
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(ERROR_PREFIX + line[: 4096 - len(ERROR_PREFIX)])
        except OSError:
            pass


# Exit status of a job that failed on its input (tempolake_job.BadInputError): no retry
# will fix it. Any other failure exits 1 and is retried.
BAD_INPUT_EXIT = 2


def _exit_code(exc):
    return BAD_INPUT_EXIT if any(c.__name__ == "BadInputError" for c in type(exc).__mro__) else 1


def run_job(main, app_name=None):
    """Builds the session, runs ``main(spark, args)``, emits its dict with timings, and exits."""
    spark = None
    code = 0
    try:
        spark = lake_session(app_name)
        session_ready = time.time()
        result = main(spark, sys.argv[1:])
        finished = time.time()
        emit_result(
            {
                "result": result if result is not None else {},
                "spark_version": spark.version,
                "timing": {
                    "python_started_at_ms": round(PYTHON_STARTED_AT * 1000),
                    "session_ms": round((session_ready - PYTHON_STARTED_AT) * 1000),
                    "job_ms": round((finished - session_ready) * 1000),
                },
            }
        )
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the caller as a line
        report_error(exc)
        code = _exit_code(exc)
    finally:
        if spark is not None:
            try:
                spark.stop()
            except Exception:
                pass
    sys.exit(code)
