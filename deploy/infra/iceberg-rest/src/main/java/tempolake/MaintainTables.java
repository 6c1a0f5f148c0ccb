package tempolake;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.DeleteFile;
import org.apache.iceberg.HasTableOperations;
import org.apache.iceberg.ManifestContent;
import org.apache.iceberg.ManifestFile;
import org.apache.iceberg.ManifestFiles;
import org.apache.iceberg.ManifestReader;
import org.apache.iceberg.PartitionStatisticsFile;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.StatisticsFile;
import org.apache.iceberg.Table;
import org.apache.iceberg.TableMetadata;
import org.apache.iceberg.TableProperties;
import org.apache.iceberg.catalog.Namespace;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.exceptions.CommitFailedException;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.iceberg.io.FileIO;
import org.apache.iceberg.io.FileInfo;
import org.apache.iceberg.io.SupportsPrefixOperations;
import org.apache.iceberg.rest.RESTCatalog;
import org.apache.iceberg.util.PropertyUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Table maintenance through the REST catalog, which DuckDB v1.5.5's iceberg extension cannot do:
 * snapshot expiration (iceberg-core's ExpireSnapshots, deleting the files it frees) and orphan
 * file removal (iceberg-core has no action for it outside Spark, so it is done here: list the
 * table's folders, subtract every file reachable from its metadata, delete what is left and old).
 *
 * <pre>
 * java -cp ... tempolake.MaintainTables --catalog http://127.0.0.1:8181
 *     [--namespace curated ...] [--table curated.source_a ...]
 *     --expire-older-than-ms EPOCH_MS --retain-last N --orphans-older-than-ms EPOCH_MS
 *     [--compact] [--dry-run]
 * </pre>
 *
 * <p>--compact first folds each partition's small files into one (CompactFiles).
 *
 * <p>Without --table (and --namespace) every table of every namespace is maintained. One JSON line
 * per table goes to stdout; logs go to stderr. Exit 0 when every table was maintained, 1 when one
 * failed (the others are still done), 2 on bad arguments. Client properties (S3FileIO for a
 * MinIO/S3 warehouse) come from CLIENT_* environment variables with the same translation as the
 * server's CATALOG_* ones: CLIENT_S3_ENDPOINT becomes s3.endpoint.
 */
public final class MaintainTables {
  static {
    // The launcher's flags keep slf4j-simple at warn (iceberg and Hadoop are chatty); our own
    // progress lines are worth seeing on stderr unless told otherwise.
    if (System.getProperty("org.slf4j.simpleLogger.log.tempolake") == null) {
      System.setProperty("org.slf4j.simpleLogger.log.tempolake", "info");
    }
  }

  private static final Logger LOG = LoggerFactory.getLogger(MaintainTables.class);

  /**
   * A writer puts its data files down before it commits them, so a file younger than its longest
   * write is not an orphan yet. No cutoff closer to now than this is accepted.
   */
  static final long MIN_ORPHAN_AGE_MS = 60 * 60 * 1000L;

  private static final int COMMIT_ATTEMPTS = 4;

  private MaintainTables() {}

  record Options(
      String catalogUri,
      List<String> namespaces,
      List<String> tables,
      long expireOlderThanMs,
      int retainLast,
      long orphansOlderThanMs,
      boolean dryRun,
      boolean compact) {}

  record Result(
      String table,
      int snapshotsBefore,
      int snapshotsAfter,
      long expiredFilesDeleted,
      long orphanFilesDeleted,
      long orphanBytesDeleted,
      boolean dryRun,
      String skipped,
      CompactFiles.Outcome compaction) {
    String toJson() {
      return "{\"table\":" + json(table)
          + ",\"snapshotsBefore\":" + snapshotsBefore
          + ",\"snapshotsAfter\":" + snapshotsAfter
          + ",\"expiredFilesDeleted\":" + expiredFilesDeleted
          + ",\"orphanFilesDeleted\":" + orphanFilesDeleted
          + ",\"orphanBytesDeleted\":" + orphanBytesDeleted
          + ",\"dryRun\":" + dryRun
          + ",\"rewrittenDataFiles\":" + compaction.rewrittenDataFiles()
          + ",\"addedDataFiles\":" + compaction.addedDataFiles()
          + ",\"rewrittenBytes\":" + compaction.rewrittenBytes()
          + (skipped == null ? "" : ",\"skipped\":" + json(skipped))
          + (compaction.skipped() == null ? "" : ",\"rewriteSkipped\":" + json(compaction.skipped()))
          + "}";
    }
  }

  static final class UsageException extends Exception {
    UsageException(String message) {
      super(message);
    }
  }

  private static final String USAGE =
      "usage: MaintainTables --catalog URI [--namespace NS ...] [--table NS.TABLE ...]\n"
          + "         --expire-older-than-ms EPOCH_MS --retain-last N"
          + " --orphans-older-than-ms EPOCH_MS [--compact] [--dry-run]";

  public static void main(String[] args) {
    Options options;
    try {
      options = parse(args, System.currentTimeMillis());
    } catch (UsageException e) {
      System.err.println(e.getMessage());
      System.err.println(USAGE);
      System.exit(2);
      return;
    }
    int failed = 0;
    try (RESTCatalog catalog = openCatalog(options.catalogUri())) {
      List<TableIdentifier> tables = resolveTables(catalog, options);
      LOG.info("maintaining {} table(s){}", tables.size(), options.dryRun() ? " (dry run)" : "");
      for (TableIdentifier id : tables) {
        long t0 = System.currentTimeMillis();
        try {
          Result result = maintain(catalog, id, options);
          System.out.println(result.toJson());
          System.out.flush();
          LOG.info("{} done in {} ms", id, System.currentTimeMillis() - t0);
        } catch (Exception e) {
          failed++;
          LOG.error("maintenance of {} failed: {}", id, e.toString(), e);
        }
      }
    } catch (Exception e) {
      LOG.error("maintenance failed: {}", e.toString(), e);
      System.exit(1);
    }
    System.exit(failed == 0 ? 0 : 1);
  }

  static Options parse(String[] args, long now) throws UsageException {
    String catalog = null;
    List<String> namespaces = new ArrayList<>();
    List<String> tables = new ArrayList<>();
    Long expireOlderThan = null;
    Integer retainLast = null;
    Long orphansOlderThan = null;
    boolean dryRun = false;
    boolean compact = false;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (arg.equals("--dry-run")) {
        dryRun = true;
        continue;
      }
      if (arg.equals("--compact")) {
        compact = true;
        continue;
      }
      if (i + 1 >= args.length) {
        throw new UsageException("missing value after " + arg);
      }
      String value = args[++i];
      switch (arg) {
        case "--catalog" -> catalog = value;
        case "--namespace" -> namespaces.add(value);
        case "--table" -> tables.add(value);
        case "--expire-older-than-ms" -> expireOlderThan = number(arg, value);
        case "--retain-last" -> retainLast = (int) (long) number(arg, value);
        case "--orphans-older-than-ms" -> orphansOlderThan = number(arg, value);
        default -> throw new UsageException("unknown argument " + arg);
      }
    }
    if (catalog == null || expireOlderThan == null || retainLast == null || orphansOlderThan == null) {
      throw new UsageException(
          "--catalog, --expire-older-than-ms, --retain-last and --orphans-older-than-ms are required");
    }
    if (retainLast < 1) {
      throw new UsageException("--retain-last must be at least 1, got " + retainLast);
    }
    if (orphansOlderThan > now - MIN_ORPHAN_AGE_MS) {
      throw new UsageException(
          "--orphans-older-than-ms must be at least " + MIN_ORPHAN_AGE_MS / 60_000
              + " minutes in the past: files of commits still being written would be deleted");
    }
    return new Options(
        catalog, namespaces, tables, expireOlderThan, retainLast, orphansOlderThan, dryRun,
        compact);
  }

  private static long number(String arg, String value) throws UsageException {
    try {
      return Long.parseLong(value);
    } catch (NumberFormatException e) {
      throw new UsageException(arg + " must be a whole number, got " + value);
    }
  }

  /** A REST catalog client; CLIENT_* variables become client (FileIO) properties. */
  static RESTCatalog openCatalog(String uri) {
    Map<String, String> props = new HashMap<>();
    for (Map.Entry<String, String> e : System.getenv().entrySet()) {
      if (e.getKey().startsWith("CLIENT_")) {
        props.putAll(
            CatalogServer.environmentCatalogConfig(
                Map.of("CATALOG_" + e.getKey().substring("CLIENT_".length()), e.getValue())));
      }
    }
    props.put("uri", uri);
    RESTCatalog catalog = new RESTCatalog();
    catalog.setConf(new Configuration());
    catalog.initialize("tempolake_maintenance", props);
    return catalog;
  }

  static List<TableIdentifier> resolveTables(RESTCatalog catalog, Options options) {
    Set<TableIdentifier> out = new LinkedHashSet<>();
    for (String t : options.tables()) {
      out.add(TableIdentifier.parse(t));
    }
    List<Namespace> namespaces = new ArrayList<>();
    if (!options.namespaces().isEmpty()) {
      for (String ns : options.namespaces()) {
        namespaces.add(Namespace.of(ns.split("\\.")));
      }
    } else if (options.tables().isEmpty()) {
      collectNamespaces(catalog, Namespace.empty(), namespaces);
    }
    for (Namespace ns : namespaces) {
      out.addAll(catalog.listTables(ns));
    }
    return new ArrayList<>(out);
  }

  private static void collectNamespaces(RESTCatalog catalog, Namespace parent, List<Namespace> out) {
    for (Namespace ns : catalog.listNamespaces(parent)) {
      if (!out.contains(ns)) {
        out.add(ns);
        collectNamespaces(catalog, ns, out);
      }
    }
  }

  static Result maintain(RESTCatalog catalog, TableIdentifier id, Options options)
      throws InterruptedException {
    Table table = catalog.loadTable(id);
    int before = size(table.snapshots());
    if (!PropertyUtil.propertyAsBoolean(
        table.properties(), TableProperties.GC_ENABLED, TableProperties.GC_ENABLED_DEFAULT)) {
      // Iceberg's rule: with gc.enabled=false the files may belong to other tables too.
      LOG.warn("{}: gc.enabled=false, nothing expired or removed", id);
      return new Result(id.toString(), before, before, 0, 0, 0, options.dryRun(), "gc.enabled=false",
          CompactFiles.Outcome.NONE);
    }

    // Compaction first, as Spark's maintenance does: the files it replaces go with the snapshots
    // that still hold them, once those expire.
    CompactFiles.Outcome compaction =
        options.compact() ? CompactFiles.compact(table, id, options.dryRun()) : CompactFiles.Outcome.NONE;
    if (compaction.addedDataFiles() > 0 && !options.dryRun()) {
      table = catalog.loadTable(id);
    }

    long expiredFiles;
    int after;
    if (options.dryRun()) {
      // apply() plans without committing and returns the snapshots that would be removed.
      List<Snapshot> removed =
          table.expireSnapshots()
              .expireOlderThan(options.expireOlderThanMs())
              .retainLast(options.retainLast())
              .apply();
      after = before - removed.size();
      expiredFiles = filesFreedByExpiring(table, removed);
    } else {
      expiredFiles = expireWithRetry(catalog, id, options.expireOlderThanMs(), options.retainLast());
      table = catalog.loadTable(id);
      after = size(table.snapshots());
    }
    LOG.info("{}: snapshots {} -> {}, {} expired file(s) {}", id, before, after, expiredFiles,
        options.dryRun() ? "would be deleted" : "deleted");

    long[] orphans =
        removeOrphans(
            id.toString(), table, roots(catalog, id, table), options.orphansOlderThanMs(),
            options.dryRun());
    return new Result(
        id.toString(), before, after, expiredFiles, orphans[0], orphans[1], options.dryRun(), null,
        compaction);
  }

  /**
   * Expires snapshots and deletes the files they alone referenced; returns how many files were
   * deleted. iceberg-core retries a conflicting commit itself (commit.retry.num-retries); when it
   * gives up, the table is reloaded and the whole expiration planned again.
   */
  static long expireWithRetry(RESTCatalog catalog, TableIdentifier id, long olderThanMs, int retainLast)
      throws InterruptedException {
    for (int attempt = 1; ; attempt++) {
      Table table = catalog.loadTable(id);
      FileIO io = table.io();
      AtomicLong deleted = new AtomicLong();
      try {
        table
            .expireSnapshots()
            .expireOlderThan(olderThanMs)
            .retainLast(retainLast)
            .cleanExpiredFiles(true)
            .deleteWith(
                path -> {
                  io.deleteFile(path);
                  deleted.incrementAndGet();
                })
            .commit();
        return deleted.get();
      } catch (CommitFailedException e) {
        if (attempt >= COMMIT_ATTEMPTS) {
          throw e;
        }
        long waitMs = 1000L << (attempt - 1);
        LOG.warn("{}: expiring snapshots conflicted with another commit ({}), retry {} in {} ms",
            id, e.getMessage(), attempt, waitMs);
        Thread.sleep(waitMs);
      }
    }
  }

  /** Dry run: files reachable from the snapshots to expire and from no retained one. */
  private static long filesFreedByExpiring(Table table, List<Snapshot> removed) {
    if (removed.isEmpty()) {
      return 0;
    }
    Set<Long> removedIds = new HashSet<>();
    for (Snapshot s : removed) {
      removedIds.add(s.snapshotId());
    }
    List<Snapshot> retained = new ArrayList<>();
    for (Snapshot s : table.snapshots()) {
      if (!removedIds.contains(s.snapshotId())) {
        retained.add(s);
      }
    }
    Set<String> freed = snapshotFiles(table, removed);
    freed.removeAll(snapshotFiles(table, retained));
    return freed.size();
  }

  /**
   * Deletes the files under the table's folders that no metadata reaches and that were last
   * modified before the cutoff. Returns {files, bytes} deleted (or that would be, in a dry run).
   */
  static long[] removeOrphans(
      String name, Table table, List<String> roots, long olderThanMs, boolean dryRun) {
    FileIO io = table.io();
    if (!(io instanceof SupportsPrefixOperations lister)) {
      throw new UnsupportedOperationException(
          "FileIO " + io.getClass().getName() + " cannot list files (no SupportsPrefixOperations)");
    }
    TableMetadata metadata = ((HasTableOperations) table).operations().current();
    Set<String> reachable = reachableFiles(table, metadata);

    Map<String, FileInfo> listed = new LinkedHashMap<>();
    for (String root : roots) {
      for (FileInfo f : listFiles(lister, root)) {
        listed.putIfAbsent(normalize(f.location()), f);
      }
    }
    checkListingMatches(name, metadata, roots, listed.keySet());

    long files = 0;
    long bytes = 0;
    long young = 0;
    for (Map.Entry<String, FileInfo> e : listed.entrySet()) {
      String path = e.getKey();
      if (reachable.contains(path) || isChecksumOf(path, reachable)) {
        continue;
      }
      FileInfo f = e.getValue();
      if (f.createdAtMillis() >= olderThanMs) {
        young++;
        continue;
      }
      LOG.info("{} orphan {} ({} bytes)", dryRun ? "would delete" : "deleting", f.location(), f.size());
      if (!dryRun) {
        io.deleteFile(f.location());
      }
      files++;
      bytes += f.size();
    }
    LOG.info("{}: {} file(s) listed, {} reachable, {} orphan(s) {} ({} bytes), {} too young to judge",
        name, listed.size(), reachable.size(), files, dryRun ? "would be deleted" : "deleted",
        bytes, young);
    return new long[] {files, bytes};
  }

  /**
   * Folders listed for the table: its location plus write.data.path / write.metadata.path. A
   * namespace named like the table (ns.t beside table ns.t) puts its tables' default locations
   * inside this one (warehouse/ns/t/x), so then only the data/ and metadata/ folders are listed.
   */
  static List<String> roots(RESTCatalog catalog, TableIdentifier id, Table table) {
    String location = stripSlash(table.location());
    List<String> candidates = new ArrayList<>();
    if (namespaceInside(catalog, id)) {
      LOG.warn("{}: namespace {}.{} exists, listing only data/ and metadata/", id, id.namespace(),
          id.name());
      candidates.add(location + "/data");
      candidates.add(location + "/metadata");
    } else {
      candidates.add(location);
    }
    for (String key :
        new String[] {TableProperties.WRITE_DATA_LOCATION, TableProperties.WRITE_METADATA_LOCATION}) {
      String value = table.properties().get(key);
      if (value != null && !value.isBlank()) {
        candidates.add(value);
      }
    }
    List<String> roots = new ArrayList<>();
    for (String c : candidates) {
      // The trailing slash keeps table "t" from listing its neighbour "t2".
      String root = stripSlash(c) + "/";
      if (roots.stream().noneMatch(r -> normalize(root).startsWith(normalize(r)))) {
        roots.removeIf(r -> normalize(r).startsWith(normalize(root)));
        roots.add(root);
      }
    }
    return roots;
  }

  private static boolean namespaceInside(RESTCatalog catalog, TableIdentifier id) {
    String[] levels = Arrays.copyOf(id.namespace().levels(), id.namespace().length() + 1);
    levels[levels.length - 1] = id.name();
    try {
      return catalog.namespaceExists(Namespace.of(levels));
    } catch (RuntimeException e) {
      LOG.warn("{}: could not check for namespace {} ({}), assuming it exists", id,
          String.join(".", levels), e.toString());
      return true;
    }
  }

  /**
   * Refuses to delete anything when the listing and the metadata spell paths differently: then
   * every file would look unreachable. The current metadata file and the current snapshot's
   * manifest list must be found among the listed files.
   */
  private static void checkListingMatches(
      String name, TableMetadata metadata, List<String> roots, Set<String> listed) {
    List<String> mustExist = new ArrayList<>();
    mustExist.add(metadata.metadataFileLocation());
    Snapshot current = metadata.currentSnapshot();
    if (current != null && current.manifestListLocation() != null) {
      mustExist.add(current.manifestListLocation());
    }
    for (String location : mustExist) {
      String path = normalize(location);
      boolean underRoot = roots.stream().anyMatch(r -> path.startsWith(normalize(r)));
      if (underRoot && !listed.contains(path)) {
        throw new IllegalStateException(
            name + ": listing under " + roots + " did not return " + location
                + "; refusing to remove orphans (path spelling mismatch?)");
      }
    }
  }

  /**
   * Every file the table's metadata reaches: metadata files (current and logged), each snapshot's
   * manifest list, manifests, data and delete files, and statistics files. Normalised paths.
   */
  static Set<String> reachableFiles(Table table, TableMetadata metadata) {
    Set<String> out = snapshotFiles(table, metadata.snapshots());
    out.add(normalize(metadata.metadataFileLocation()));
    for (TableMetadata.MetadataLogEntry entry : metadata.previousFiles()) {
      out.add(normalize(entry.file()));
    }
    // Only Hadoop tables write it, but it is never an orphan.
    out.add(normalize(stripSlash(table.location()) + "/metadata/version-hint.text"));
    for (StatisticsFile s : metadata.statisticsFiles()) {
      out.add(normalize(s.path()));
    }
    for (PartitionStatisticsFile s : metadata.partitionStatisticsFiles()) {
      out.add(normalize(s.path()));
    }
    return out;
  }

  /** Manifest lists, manifests, live data and delete files and statistics of these snapshots. */
  private static Set<String> snapshotFiles(Table table, List<Snapshot> snapshots) {
    FileIO io = table.io();
    Set<String> out = new HashSet<>();
    Set<String> manifestsSeen = new HashSet<>();
    Set<Long> ids = new HashSet<>();
    for (Snapshot snapshot : snapshots) {
      ids.add(snapshot.snapshotId());
      if (snapshot.manifestListLocation() != null) {
        out.add(normalize(snapshot.manifestListLocation()));
      }
      for (ManifestFile manifest : snapshot.allManifests(io)) {
        if (!manifestsSeen.add(manifest.path())) {
          continue;
        }
        out.add(normalize(manifest.path()));
        if (manifest.content() == ManifestContent.DATA) {
          try (CloseableIterable<String> paths = ManifestFiles.readPaths(manifest, io)) {
            for (String p : paths) {
              out.add(normalize(p));
            }
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        } else {
          try (ManifestReader<DeleteFile> reader =
              ManifestFiles.readDeleteManifest(manifest, io, table.specs())
                  .select(List.of("file_path"))) {
            for (DeleteFile f : reader) {
              out.add(normalize(f.location()));
            }
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
      }
    }
    for (StatisticsFile s : table.statisticsFiles()) {
      if (ids.contains(s.snapshotId())) {
        out.add(normalize(s.path()));
      }
    }
    for (PartitionStatisticsFile s : table.partitionStatisticsFiles()) {
      if (ids.contains(s.snapshotId())) {
        out.add(normalize(s.path()));
      }
    }
    return out;
  }

  /** HadoopFileIO's local file system writes ".name.crc" beside "name"; it lives and dies with it. */
  private static boolean isChecksumOf(String path, Set<String> reachable) {
    int slash = path.lastIndexOf('/');
    String name = path.substring(slash + 1);
    if (!name.startsWith(".") || !name.endsWith(".crc") || name.length() <= 5) {
      return false;
    }
    return reachable.contains(path.substring(0, slash + 1) + name.substring(1, name.length() - 4));
  }

  /**
   * One spelling per file: the metadata holds "file:///x" (DuckDB) and "file:/x" (Hadoop), the
   * listing "file:/x"; s3a:// and s3n:// name the same objects as s3://. Local paths also lose
   * doubled slashes (the same file on disk); object keys keep theirs (a different key).
   */
  /**
   * The files under a root. A local folder is walked with java.nio: Hadoop's local file system
   * (behind HadoopFileIO) forks a shell command per file for its permissions, minutes for the
   * tens of thousands of files a lineage table holds.
   */
  static Iterable<FileInfo> listFiles(SupportsPrefixOperations lister, String root) {
    String normalized = normalize(root);
    if (!normalized.startsWith("file:")) {
      return lister.listPrefix(root);
    }
    Path folder = Paths.get(normalized.substring("file:".length()));
    if (!Files.isDirectory(folder)) {
      return List.of();
    }
    List<FileInfo> out = new ArrayList<>();
    try (Stream<Path> paths = Files.walk(folder)) {
      for (Path p : (Iterable<Path>) paths::iterator) {
        BasicFileAttributes attrs;
        try {
          attrs = Files.readAttributes(p, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
          continue; // deleted while we listed
        }
        if (attrs.isRegularFile()) {
          out.add(new FileInfo(p.toString(), attrs.size(), attrs.lastModifiedTime().toMillis()));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }

  static String normalize(String location) {
    if (location.startsWith("/")) {
      return "file:" + location.replaceAll("/{2,}", "/");
    }
    int colon = location.indexOf(':');
    if (colon < 0) {
      return location;
    }
    String scheme = location.substring(0, colon).toLowerCase(Locale.ROOT);
    String rest = location.substring(colon + 1);
    if (scheme.equals("file")) {
      if (rest.startsWith("//localhost/")) {
        rest = rest.substring("//localhost".length());
      }
      return "file:" + rest.replaceAll("/{2,}", "/");
    }
    if (scheme.equals("s3a") || scheme.equals("s3n")) {
      scheme = "s3";
    }
    return scheme + ":" + rest;
  }

  private static String stripSlash(String s) {
    return s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
  }

  private static int size(Iterable<?> items) {
    int n = 0;
    for (Object ignored : items) {
      n++;
    }
    return n;
  }

  static String json(String s) {
    StringBuilder sb = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    return sb.append('"').toString();
  }
}
