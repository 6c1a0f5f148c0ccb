package tempolake;

import org.apache.iceberg.Snapshot;
import org.apache.iceberg.Table;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.rest.RESTCatalog;

/**
 * Snapshot expiration alone, the tool's first CLI (kept for RECIPE.md); {@link MaintainTables}
 * also removes orphan files and handles many tables.
 *
 * <p>Usage: java -cp ... tempolake.ExpireSnapshots URI NAMESPACE.TABLE OLDER_THAN_MS RETAIN_LAST
 *
 * <p>Expires snapshots older than OLDER_THAN_MS (epoch millis) but always keeps the newest
 * RETAIN_LAST, then deletes the data, delete and metadata files no longer reachable. CLIENT_*
 * environment variables become client properties (CLIENT_S3_ENDPOINT -> s3.endpoint). Prints the
 * snapshot ids before and after as one JSON line.
 */
public final class ExpireSnapshots {
  private ExpireSnapshots() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 4) {
      System.err.println("usage: ExpireSnapshots URI NAMESPACE.TABLE OLDER_THAN_MS RETAIN_LAST");
      System.exit(2);
    }
    TableIdentifier id = TableIdentifier.parse(args[1]);
    try (RESTCatalog catalog = MaintainTables.openCatalog(args[0])) {
      String before = ids(catalog.loadTable(id));
      MaintainTables.expireWithRetry(catalog, id, Long.parseLong(args[2]), Integer.parseInt(args[3]));
      System.out.println(
          "{\"table\":" + MaintainTables.json(args[1]) + ",\"before\":" + before
              + ",\"after\":" + ids(catalog.loadTable(id)) + "}");
    }
  }

  private static String ids(Table table) {
    StringBuilder sb = new StringBuilder("[");
    for (Snapshot s : table.snapshots()) {
      if (sb.length() > 1) {
        sb.append(',');
      }
      sb.append('"').append(s.snapshotId()).append('"');
    }
    return sb.append(']').toString();
  }
}
