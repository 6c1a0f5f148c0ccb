package tempolake;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.iceberg.DataFile;
import org.apache.iceberg.FileFormat;
import org.apache.iceberg.FileScanTask;
import org.apache.iceberg.PartitionSpec;
import org.apache.iceberg.RewriteFiles;
import org.apache.iceberg.Schema;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.StructLike;
import org.apache.iceberg.Table;
import org.apache.iceberg.TableProperties;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.data.Record;
import org.apache.iceberg.data.parquet.GenericParquetReaders;
import org.apache.iceberg.data.parquet.GenericParquetWriter;
import org.apache.iceberg.exceptions.CommitFailedException;
import org.apache.iceberg.exceptions.ValidationException;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.iceberg.io.DataWriter;
import org.apache.iceberg.io.OutputFile;
import org.apache.iceberg.parquet.Parquet;
import org.apache.iceberg.parquet.ParquetSchemaUtil;
import org.apache.iceberg.util.PropertyUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Compaction of small data files without Spark: each partition's small Parquet files are read
 * as Iceberg generic records and written again as one file (or a few, up to the table's target
 * size), in one RewriteFiles commit per table. One row per publish makes lineage.commits (and
 * every table published hour by hour) thousands of tiny files; reading them costs a file open
 * each, so a catalog's cold build and every scan slow down as the lake ages.
 *
 * <p>Only what is safe without an engine's delete handling is touched: Parquet files no delete
 * file applies to, from two per partition on (Spark's rewrite_data_files also folds the deletes
 * in; run maintenance on Spark for that). The rewrite validates from the snapshot it planned
 * on, so a delete committed meanwhile against a rewritten file fails it, and the files it wrote
 * are deleted again; the table is then left as it was, to be compacted next time.
 */
final class CompactFiles {
  private static final Logger LOG = LoggerFactory.getLogger(CompactFiles.class);

  /** Files at or above this share of the target size are left alone (Spark's default, 75%). */
  private static final double SMALL_SHARE = 0.75;

  private CompactFiles() {}

  record Outcome(long rewrittenDataFiles, long addedDataFiles, long rewrittenBytes, String skipped) {
    static final Outcome NONE = new Outcome(0, 0, 0, null);
  }

  /** One partition's small files, to become one file. */
  private record Bin(PartitionSpec spec, List<DataFile> files, long bytes) {}

  static Outcome compact(Table table, TableIdentifier id, boolean dryRun) {
    Snapshot start = table.currentSnapshot();
    if (start == null) {
      return Outcome.NONE;
    }
    long target =
        PropertyUtil.propertyAsLong(
            table.properties(),
            TableProperties.WRITE_TARGET_FILE_SIZE_BYTES,
            TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT);
    List<Bin> bins = plan(table, start, (long) (target * SMALL_SHARE), target);
    long inputs = bins.stream().mapToLong(b -> b.files().size()).sum();
    long bytes = bins.stream().mapToLong(Bin::bytes).sum();
    if (bins.isEmpty()) {
      return Outcome.NONE;
    }
    LOG.info("{}: {} small file(s), {} bytes, {} compact into {} file(s)", id, inputs, bytes,
        dryRun ? "would" : "to", bins.size());
    if (dryRun) {
      return new Outcome(inputs, bins.size(), bytes, null);
    }

    Set<DataFile> removed = new HashSet<>();
    List<DataFile> added = new ArrayList<>();
    try {
      for (Bin bin : bins) {
        added.add(rewrite(table, bin));
        removed.addAll(bin.files());
      }
      RewriteFiles rewrite = table.newRewrite().validateFromSnapshot(start.snapshotId());
      removed.forEach(rewrite::deleteFile);
      added.forEach(rewrite::addFile);
      rewrite.commit();
    } catch (CommitFailedException | ValidationException e) {
      deleteAll(table, added);
      LOG.warn("{}: compaction not committed, the table changed meanwhile ({}); next time", id,
          e.getMessage());
      return new Outcome(0, 0, 0, "compaction conflicted with another commit: " + e.getMessage());
    } catch (RuntimeException e) {
      deleteAll(table, added);
      throw e;
    }
    return new Outcome(inputs, added.size(), bytes, null);
  }

  /** Per partition, the small files no delete file applies to, packed into bins of two or more. */
  private static List<Bin> plan(Table table, Snapshot start, long small, long target) {
    Map<String, List<DataFile>> byPartition = new LinkedHashMap<>();
    Map<String, PartitionSpec> specs = new LinkedHashMap<>();
    try (CloseableIterable<FileScanTask> tasks =
        table.newScan().useSnapshot(start.snapshotId()).planFiles()) {
      for (FileScanTask task : tasks) {
        DataFile file = task.file();
        if (!task.deletes().isEmpty()
            || file.format() != FileFormat.PARQUET
            || file.fileSizeInBytes() >= small) {
          continue;
        }
        PartitionSpec spec = table.specs().get(file.specId());
        String key = file.specId() + "/" + spec.partitionToPath(file.partition());
        byPartition.computeIfAbsent(key, k -> new ArrayList<>()).add(file.copy());
        specs.putIfAbsent(key, spec);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<Bin> bins = new ArrayList<>();
    for (Map.Entry<String, List<DataFile>> e : byPartition.entrySet()) {
      List<DataFile> files = e.getValue();
      files.sort((a, b) -> a.location().compareTo(b.location()));
      List<DataFile> current = new ArrayList<>();
      long bytes = 0;
      for (DataFile f : files) {
        if (!current.isEmpty() && bytes + f.fileSizeInBytes() > target) {
          addBin(bins, specs.get(e.getKey()), current, bytes);
          current = new ArrayList<>();
          bytes = 0;
        }
        current.add(f);
        bytes += f.fileSizeInBytes();
      }
      addBin(bins, specs.get(e.getKey()), current, bytes);
    }
    return bins;
  }

  private static void addBin(List<Bin> bins, PartitionSpec spec, List<DataFile> files, long bytes) {
    // A single file is already as compact as it gets.
    if (files.size() >= 2) {
      bins.add(new Bin(spec, files, bytes));
    }
  }

  /** Writes the bin's rows as one new file of its partition; its row count must be the inputs'. */
  private static DataFile rewrite(Table table, Bin bin) {
    Schema schema = table.schema();
    String name = "compacted-" + UUID.randomUUID() + ".parquet";
    StructLike partition = bin.files().get(0).partition();
    OutputFile out =
        table.io().newOutputFile(
            table.locationProvider().newDataLocation(bin.spec(), partition, name));
    long expected = 0;
    DataWriter<Record> writer;
    try {
      writer =
          Parquet.writeData(out)
              .forTable(table)
              .withSpec(bin.spec())
              .withPartition(partition)
              .createWriterFunc(GenericParquetWriter::create)
              .overwrite()
              .build();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    try (writer) {
      for (DataFile f : bin.files()) {
        expected += f.recordCount();
        try (CloseableIterable<Record> rows =
            Parquet.read(table.io().newInputFile(f.location()))
                .project(schema)
                .createReaderFunc(
                    fileSchema -> {
                      // Columns are matched by field id: a file without them would read as nulls.
                      if (!ParquetSchemaUtil.hasIds(fileSchema)) {
                        throw new IllegalStateException(f.location() + " has no Iceberg field ids");
                      }
                      return GenericParquetReaders.buildReader(schema, fileSchema);
                    })
                .build()) {
          for (Record r : rows) {
            writer.write(r);
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    DataFile written = writer.toDataFile();
    if (written.recordCount() != expected) {
      table.io().deleteFile(written.location());
      throw new IllegalStateException(
          "compacting " + bin.files().size() + " files of " + table.name() + " wrote "
              + written.recordCount() + " rows, not " + expected);
    }
    return written;
  }

  private static void deleteAll(Table table, List<DataFile> files) {
    for (DataFile f : files) {
      try {
        table.io().deleteFile(f.location());
      } catch (RuntimeException e) {
        LOG.warn("could not delete {} (an orphan now, removed by a later maintenance): {}",
            f.location(), e.toString());
      }
    }
  }
}
