"""Iceberg table maintenance through Spark's Iceberg procedures, with the retention rules of
the lake's Java tool (deploy/infra/iceberg-rest/…/MaintainTables.java, run by
activities/maintenance.ts), plus compaction, which DuckDB cannot do.

  maintain_tables.py --input '{"tables": ["curated.market_events"], "retainHours": 168,
                               "keepLast": 10, "orphanMarginHours": 72, "rewrite": true}'

Per table, in this order:
  1. ``rewrite`` (default false): ``rewrite_data_files`` compacts the small files of each
     partition (e.g. market_events' one file per hourly commit; any partition with two or more
     small files) and rewrites data files that delete files apply to, dropping the deletes no
     file needs any more. Rows are unchanged; one commit.
  2. ``expire_snapshots``: snapshots older than ``retainHours`` (default 168) go, but the last
     ``keepLast`` (default 10, at least 1) stay however old; the files only they referenced are
     deleted.
  3. ``remove_orphan_files``: files under the table's folders that no metadata reaches and
     older than ``orphanMarginHours`` (default 72; at least 1: a writer puts its files down
     before its commit, so younger files may belong to a commit in flight). When a namespace
     named like the table exists (ns.t beside table ns.t), its tables live inside this table's
     folder, so only data/ and metadata/ are listed, as the Java tool does.
A table with ``gc.enabled=false`` is left alone (its files may belong to other tables too).
``tables`` omitted or empty: every table of the catalog. A table that does not exist is bad
input. A commit that loses a race is retried; a table that still fails does not stop the
others, and the job fails at the end naming it.

Returns ``{tables: [{table, snapshotsBefore, snapshotsAfter, expiredFilesDeleted,
orphanFilesDeleted, orphanBytesDeleted, dryRun: false, dataFilesBefore, dataFilesAfter,
deleteFilesBefore, deleteFilesAfter, rewrittenDataFiles, addedDataFiles, rewrittenBytes,
removedDeleteFiles[, skipped][, rewriteSkipped]}]}`` — the Java tool's line per table, and the
compaction's counts. A table with a column named like an Iceberg metadata column (``_partition``,
``_file``, ``_pos``…; tables made before curated.market_events' column became ``_kafka_partition``) cannot be read by Iceberg's Spark
scans, so it is not compacted (``rewriteSkipped`` says why); it is still expired and cleaned.
"""

import datetime
import sys
import time

import tempolake_spark  # first: it records when Python started

# The job's own modules beside it: no __pycache__ folder written into the jobs folder.
sys.dont_write_bytecode = True

from tempolake_job import BadInputError, error_text, job_input  # noqa: E402
from tempolake_publish import CATALOG  # noqa: E402

DEFAULTS = {"retainHours": 168, "keepLast": 10, "orphanMarginHours": 72}
MIN_ORPHAN_MARGIN_HOURS = 1
# remove_orphan_files refuses a cutoff less than 24 hours back (the action it wraps does not).
PROCEDURE_MIN_ORPHAN_AGE_S = 24 * 3600
COMMIT_ATTEMPTS = 4
# rewrite_data_files: a partition's small files are compacted from two files on (Iceberg's default
# waits for five); a file any delete file applies to is rewritten without its deleted rows, and the
# delete files then left pointing at no live file are dropped. The new files take the rewrite's
# own sequence number, so the position deletes before it no longer apply to them (with the
# starting one they would still count as live: the lake has no equality deletes to protect).
REWRITE_OPTIONS = {
    "min-input-files": "2",
    "delete-file-threshold": "1",
    "remove-dangling-deletes": "true",
    "use-starting-sequence-number": "false",
}


def log(line):
    # stdout carries the result line only.
    print(line, file=sys.stderr, flush=True)


def check_input(value):
    out = {"tables": value.get("tables") or None, "rewrite": value.get("rewrite", False)}
    for key, default in DEFAULTS.items():
        out[key] = value.get(key, default)
    tables = out["tables"]
    if tables is not None and (not isinstance(tables, list) or not all(isinstance(t, str) and t.count(".") >= 1 for t in tables)):
        raise BadInputError("tables must be a list of namespace.table names")
    if not isinstance(out["rewrite"], bool):
        raise BadInputError("rewrite must be true or false")
    keep = out["keepLast"]
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise BadInputError(f"keepLast must be a whole number ≥ 1, got {keep}")
    retain = out["retainHours"]
    if not isinstance(retain, (int, float)) or isinstance(retain, bool) or not retain >= 0:
        raise BadInputError(f"retainHours must be ≥ 0, got {retain}")
    margin = out["orphanMarginHours"]
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not margin >= MIN_ORPHAN_MARGIN_HOURS:
        raise BadInputError(f"orphanMarginHours must be ≥ {MIN_ORPHAN_MARGIN_HOURS} (files of running commits would go), got {margin}")
    return out


def quote_name(name):
    return ".".join(f"`{part}`" for part in name.split("."))


def sql_string(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def timestamp_literal(epoch_seconds):
    # The session's time zone is UTC.
    return "TIMESTAMP '" + datetime.datetime.fromtimestamp(epoch_seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f") + "'"


def list_tables(spark, namespace=None):
    """Every table of the catalog (namespaces nested at any depth)."""
    out = []
    if namespace is not None:
        for row in spark.sql(f"SHOW TABLES IN {CATALOG}.{quote_name(namespace)}").collect():
            out.append(f"{row['namespace']}.{row['tableName']}")
    where = CATALOG if namespace is None else f"{CATALOG}.{quote_name(namespace)}"
    for row in spark.sql(f"SHOW NAMESPACES IN {where}").collect():
        out.extend(list_tables(spark, row["namespace"]))
    return sorted(set(out))


def iceberg_table(spark, name):
    return spark._jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, f"{CATALOG}.{name}")


def with_retry(what, action):
    """Runs ``action`` again when its commit lost a race (the table is reloaded by each call)."""
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            return action()
        except Exception as exc:  # noqa: BLE001
            text = str(exc)
            conflict = "CommitFailedException" in text or "Found conflicting" in text or "Found new conflicting" in text
            if not conflict or attempt >= COMMIT_ATTEMPTS:
                raise
            log(f"{what} conflicted with another commit, retry {attempt} in {attempt} s")
            time.sleep(attempt)


def file_counts(spark, name):
    rows = spark.sql(f"SELECT content, count(*) AS n FROM {CATALOG}.{quote_name(name)}.files GROUP BY content").collect()
    by_content = {r["content"]: r["n"] for r in rows}
    return by_content.get(0, 0), by_content.get(1, 0) + by_content.get(2, 0)


def snapshot_count(spark, name):
    return spark.sql(f"SELECT count(*) AS n FROM {CATALOG}.{quote_name(name)}.snapshots").first()["n"]


def orphan_roots(spark, name, table):
    """The folders listed for orphans: the table's location, or only its data/ and metadata/ when
    a namespace named like the table (whose tables live inside its folder) exists."""
    location = str(table.location()).rstrip("/")
    levels = name.split(".")
    array = spark.sparkContext._gateway.new_array(spark._jvm.java.lang.String, len(levels))
    for i, level in enumerate(levels):
        array[i] = level
    nested = spark._jvm.org.apache.iceberg.catalog.Namespace.of(array)
    try:
        catalog = spark._jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergCatalog(spark._jsparkSession, CATALOG)
        inside = bool(catalog.namespaceExists(nested))
    except Exception:  # noqa: BLE001 - not knowing is treated as "there is one"
        inside = True
    return [f"{location}/data", f"{location}/metadata"] if inside else [location]


def file_size(table, location):
    try:
        return int(table.io().newInputFile(location).getLength())
    except Exception:  # noqa: BLE001 - gone meanwhile
        return 0


def remove_orphans(spark, name, table, older_than_s):
    """Deletes the orphans older than ``older_than_s`` (epoch seconds); returns (files, bytes).

    With a margin of 24 hours or more, through the ``remove_orphan_files`` procedure (a dry run
    first, for the sizes). The procedure refuses anything shorter, so a margin of 1 to 24 hours
    (the lake's floor is 1, as the Java tool's) runs the action it wraps, DeleteOrphanFiles,
    with the same listing: it collects the orphans, which are then deleted through the table's
    FileIO, as the action itself would delete them."""
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    prefix_listing = str(table.location()).startswith(("s3://", "s3a://"))
    use_procedure = older_than_s <= time.time() - PROCEDURE_MIN_ORPHAN_AGE_S
    files = bytes_ = 0
    for root in orphan_roots(spark, name, table):
        root_path = jvm.org.apache.hadoop.fs.Path(root)
        if not prefix_listing and not root_path.getFileSystem(conf).exists(root_path):
            continue
        if use_procedure:
            call = (
                f"CALL {CATALOG}.system.remove_orphan_files(table => {sql_string(CATALOG + '.' + name)}, "
                f"older_than => {timestamp_literal(older_than_s)}, location => {sql_string(root)}"
                f"{', prefix_listing => true' if prefix_listing else ''}"
            )
            planned = [r["orphan_file_location"] for r in spark.sql(call + ", dry_run => true)").collect()]
            if not planned:
                continue
            sizes = {location: file_size(table, location) for location in planned}
            deleted = [r["orphan_file_location"] for r in spark.sql(call + ")").collect()]
        else:
            # A Stream.Builder is a Consumer<String>: the action hands it the orphans instead of deleting them.
            collected = jvm.java.util.stream.Stream.builder()
            action = (
                jvm.org.apache.iceberg.spark.actions.SparkActions.get(spark._jsparkSession)
                .deleteOrphanFiles(table)
                .olderThan(int(older_than_s * 1000))
                .location(root)
                .usePrefixListing(prefix_listing)
                .deleteWith(collected)
            )
            action.execute()
            deleted = [str(location) for location in collected.build().toArray()]
            sizes = {location: file_size(table, location) for location in deleted}
            for location in deleted:
                table.io().deleteFile(location)
        files += len(deleted)
        bytes_ += sum(sizes.get(location, 0) for location in deleted)
    return files, bytes_


def reserved_columns(spark, table):
    """Top-level columns named like Iceberg's metadata columns (_partition, _file, _pos, …)."""
    metadata = spark._jvm.org.apache.iceberg.MetadataColumns
    return [str(f.name()) for f in table.schema().columns() if metadata.isMetadataColumn(f.name())]


def maintain(spark, name, options, now):
    table = iceberg_table(spark, name)
    before = snapshot_count(spark, name)
    data_before, deletes_before = file_counts(spark, name)
    result = {
        "table": name,
        "snapshotsBefore": before,
        "snapshotsAfter": before,
        "expiredFilesDeleted": 0,
        "orphanFilesDeleted": 0,
        "orphanBytesDeleted": 0,
        "dryRun": False,
        "dataFilesBefore": data_before,
        "dataFilesAfter": data_before,
        "deleteFilesBefore": deletes_before,
        "deleteFilesAfter": deletes_before,
        "rewrittenDataFiles": 0,
        "addedDataFiles": 0,
        "rewrittenBytes": 0,
        "removedDeleteFiles": 0,
    }
    if str(table.properties().getOrDefault("gc.enabled", "true")).lower() == "false":
        return {**result, "skipped": "gc.enabled=false"}
    qualified = sql_string(CATALOG + "." + name)

    reserved = reserved_columns(spark, table)
    if options["rewrite"] and reserved:
        # Iceberg's Spark scans refuse a table with such a column, so rewrite_data_files cannot read it.
        result["rewriteSkipped"] = (
            f"column{'s' if len(reserved) > 1 else ''} {', '.join(reserved)} ha{'ve' if len(reserved) > 1 else 's'} the name of an Iceberg "
            "metadata column: Spark cannot read the table's rows to compact them (rename the column)"
        )
    elif options["rewrite"] and table.currentSnapshot() is not None:
        opts = ", ".join(f"{sql_string(k)}, {sql_string(v)}" for k, v in REWRITE_OPTIONS.items())
        row = with_retry(
            f"{name}: rewrite_data_files",
            lambda: spark.sql(f"CALL {CATALOG}.system.rewrite_data_files(table => {qualified}, options => map({opts}))").first(),
        )
        result.update(
            rewrittenDataFiles=row["rewritten_data_files_count"],
            addedDataFiles=row["added_data_files_count"],
            rewrittenBytes=row["rewritten_bytes_count"],
            removedDeleteFiles=row["removed_delete_files_count"],
        )

    expire_before = timestamp_literal(now - options["retainHours"] * 3600)
    row = with_retry(
        f"{name}: expire_snapshots",
        lambda: spark.sql(
            f"CALL {CATALOG}.system.expire_snapshots(table => {qualified}, older_than => {expire_before}, retain_last => {options['keepLast']})"
        ).first(),
    )
    result["expiredFilesDeleted"] = sum(int(row[k] or 0) for k in row.asDict())

    files, bytes_ = remove_orphans(spark, name, iceberg_table(spark, name), now - options["orphanMarginHours"] * 3600)
    data_after, deletes_after = file_counts(spark, name)
    result.update(
        snapshotsAfter=snapshot_count(spark, name),
        orphanFilesDeleted=files,
        orphanBytesDeleted=bytes_,
        dataFilesAfter=data_after,
        deleteFilesAfter=deletes_after,
    )
    return result


def main(spark, argv):
    options = check_input(job_input(argv, "maintain_tables.py"))
    names = options["tables"] or list_tables(spark)
    missing = [n for n in names if not spark.catalog.tableExists(f"{CATALOG}.{quote_name(n)}")]
    if missing:
        raise BadInputError(f"no such table: {', '.join(missing)}")
    now = time.time()
    results, failed = [], []
    for name in names:
        started = time.time()
        try:
            results.append(maintain(spark, name, options, now))
            log(f"{name}: maintained in {time.time() - started:.1f} s: {results[-1]}")
        except Exception as exc:  # noqa: BLE001 - the other tables are still maintained
            failed.append(f"{name}: {error_text(exc).splitlines()[0][:500]}")
            log(f"maintenance of {name} failed: {error_text(exc)}")
    if failed:
        raise RuntimeError(f"maintenance failed for {len(failed)} of {len(names)} table(s): " + "; ".join(failed))
    return {"tables": results}


if __name__ == "__main__":
    tempolake_spark.run_job(main, app_name="tempolake-maintain_tables")
