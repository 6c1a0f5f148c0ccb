package tempolake;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.CatalogProperties;
import org.apache.iceberg.CatalogUtil;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.jdbc.JdbcCatalog;
import org.apache.iceberg.BaseTable;
import org.apache.iceberg.MetadataUpdate;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.TableMetadata;
import org.apache.iceberg.TableOperations;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.exceptions.CommitFailedException;
import org.apache.iceberg.exceptions.ValidationException;
import org.apache.iceberg.rest.HTTPRequest;
import org.apache.iceberg.rest.requests.CommitTransactionRequest;
import org.apache.iceberg.rest.requests.UpdateTableRequest;
import org.apache.iceberg.rest.RESTCatalogAdapter;
import org.apache.iceberg.rest.RESTCatalogServlet;
import org.apache.iceberg.rest.RESTResponse;
import org.apache.iceberg.rest.responses.ErrorResponse;
import org.apache.iceberg.rest.responses.LoadTableResponse;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.gzip.GzipHandler;
import org.eclipse.jetty.servlet.ServletContextHandler;
import org.eclipse.jetty.servlet.ServletHolder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Apache Iceberg's REST catalog server (the body of
 * org.apache.iceberg.rest.RESTCatalogServer#main from iceberg-open-api 1.10.1 test-fixtures),
 * except that Jetty binds one host (default 127.0.0.1) instead of every interface.
 *
 * <p>Configured by environment exactly like upstream: every variable starting with CATALOG_
 * becomes a catalog property (prefix stripped, "__" to "-", "_" to ".", lower-cased), e.g.
 * CATALOG_URI=jdbc:sqlite:file:/x/catalog.db, CATALOG_WAREHOUSE=file:///x/warehouse,
 * CATALOG_REST_PORT=8181, CATALOG_IO__IMPL=org.apache.iceberg.aws.s3.S3FileIO. The bind host
 * comes from CATALOG_REST_HOST (property rest.host); -Drest.host / -Drest.port override both.
 * No authentication: keep it on loopback.
 */
public final class CatalogServer {
  private static final Logger LOG = LoggerFactory.getLogger(CatalogServer.class);
  private static final String ENV_PREFIX = "CATALOG_";

  private CatalogServer() {}

  /** Same translation as upstream RCKUtils.environmentCatalogConfig(). */
  static Map<String, String> environmentCatalogConfig(Map<String, String> env) {
    Map<String, String> props = new HashMap<>();
    for (Map.Entry<String, String> e : env.entrySet()) {
      if (!e.getKey().startsWith(ENV_PREFIX)) {
        continue;
      }
      String key =
          e.getKey()
              .replaceFirst(ENV_PREFIX, "")
              .replaceAll("__", "-")
              .replaceAll("_", ".")
              .toLowerCase(Locale.ROOT);
      if (props.put(key, e.getValue()) != null) {
        throw new IllegalArgumentException("Duplicate key: " + key);
      }
    }
    return props;
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> props = environmentCatalogConfig(System.getenv());
    if (System.getProperty("rest.host") != null) {
      props.put("rest.host", System.getProperty("rest.host"));
    }
    if (System.getProperty("rest.port") != null) {
      props.put("rest.port", System.getProperty("rest.port"));
    }

    // Upstream defaults: a JDBC catalog (in-memory SQLite unless CATALOG_URI is set).
    props.putIfAbsent(CatalogProperties.CATALOG_IMPL, JdbcCatalog.class.getName());
    props.putIfAbsent(CatalogProperties.URI, "jdbc:sqlite::memory:");
    props.putIfAbsent("jdbc.schema-version", "V1");
    if (props.get(CatalogProperties.WAREHOUSE_LOCATION) == null) {
      Path tmp = Files.createTempDirectory("iceberg_warehouse");
      tmp.toFile().deleteOnExit();
      String wh = tmp.resolve("iceberg_data").toAbsolutePath().toString();
      props.put(CatalogProperties.WAREHOUSE_LOCATION, wh);
      LOG.info("No warehouse location set. Defaulting to temp location: {}", wh);
    }

    String host = props.getOrDefault("rest.host", "127.0.0.1");
    int port = Integer.parseInt(props.getOrDefault("rest.port", "8181"));
    String name = props.getOrDefault("catalog.name", "rest_backend");
    boolean includeCredentials =
        Boolean.parseBoolean(props.getOrDefault("include-credentials", "false"));

    LOG.info("Creating {} catalog, impl {}, uri {}, warehouse {}", name,
        props.get(CatalogProperties.CATALOG_IMPL), redact(props.get(CatalogProperties.URI)),
        props.get(CatalogProperties.WAREHOUSE_LOCATION));
    Catalog catalog = CatalogUtil.buildIcebergCatalog(name, props, new Configuration());

    // Every write goes through this lock, so a transaction whose requirements were validated
    // commits all its tables before any other write can change them (see commitTransaction).
    Object writeLock = new Object();
    RESTCatalogAdapter adapter =
        new RESTCatalogAdapter(catalog) {
          // The servlet calls this execute(); Route is package-private, so we wrap here
          // rather than override handleRequest as upstream's RESTServerCatalogAdapter does.
          @Override
          protected <T extends RESTResponse> T execute(
              HTTPRequest request,
              Class<T> responseType,
              Consumer<ErrorResponse> errorHandler,
              Consumer<Map<String, String>> responseHeaders) {
            if (request.method() == HTTPRequest.HTTPMethod.POST
                && request.path().endsWith("transactions/commit")
                && request.body() instanceof CommitTransactionRequest commit) {
              synchronized (writeLock) {
                try {
                  commitTransaction(catalog, commit);
                } catch (RuntimeException e) {
                  ErrorResponse.Builder error = ErrorResponse.builder();
                  RESTCatalogAdapter.configureResponseFromException(e, error);
                  errorHandler.accept(error.build());
                }
              }
              return null;
            }
            T response;
            if (request.method() == HTTPRequest.HTTPMethod.GET
                || request.method() == HTTPRequest.HTTPMethod.HEAD) {
              response = super.execute(request, responseType, errorHandler, responseHeaders);
            } else {
              synchronized (writeLock) {
                response = super.execute(request, responseType, errorHandler, responseHeaders);
              }
            }
            // Upstream RESTServerCatalogAdapter: hand S3 keys to clients when asked to.
            if (includeCredentials && response instanceof LoadTableResponse) {
              Map<String, String> tableConfig = ((LoadTableResponse) response).config();
              for (String k :
                  new String[] {"s3.access-key-id", "s3.secret-access-key", "s3.session-token"}) {
                if (props.containsKey(k)) {
                  tableConfig.put(k, props.get(k));
                }
              }
            }
            return response;
          }
        };

    ServletContextHandler context = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
    context.addServlet(new ServletHolder(new RESTCatalogServlet(adapter)), "/*");
    context.insertHandler(new GzipHandler());

    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost(InetAddress.getByName(host).getHostAddress());
    connector.setPort(port);
    server.addConnector(connector);
    server.setHandler(context);
    server.setStopAtShutdown(true);
    server.start();
    LOG.info("Iceberg REST catalog listening on http://{}:{}/", connector.getHost(),
        connector.getLocalPort());
    server.join();
  }

  /**
   * Commits a multi-table transaction all or nothing, as far as a JDBC catalog can.
   *
   * <p>Upstream RESTCatalogAdapter applies the changes through Transaction#commitTransaction; when
   * the metadata CAS loses to a concurrent commit, its retry replays no pending update, so the
   * commit becomes a no-op reported as success (a lost write). Committing table by table with
   * CatalogHandlers.updateTable instead (our earlier fix) has its own hole: a rival commit landing
   * between two tables fails a later table after earlier ones were committed; the client, told
   * the transaction failed, deletes the files it wrote, and the earlier tables reference deleted
   * files. Its retry also rebases an append (checked only by table UUID) onto the rival's
   * snapshot, dropping the rival's rows from the branch.
   *
   * <p>So, under the server's write lock (no other write through this server can interleave):
   * every table's requirements are checked and its new metadata is built first; a snapshot whose
   * parent is not the table's current one is a conflict (409, the client redoes the transaction);
   * only when every table passed are the tables committed. Writers through another catalog
   * server on the same database are not covered.
   */
  static void commitTransaction(Catalog catalog, CommitTransactionRequest commit) {
    List<Runnable> commits = new ArrayList<>();
    for (UpdateTableRequest change : commit.tableChanges()) {
      TableIdentifier id = change.identifier();
      TableOperations ops = ((BaseTable) catalog.loadTable(id)).operations();
      TableMetadata base = ops.current();
      change.requirements().forEach(r -> r.validate(base));
      if (change.updates().isEmpty()) {
        continue;
      }
      Set<Long> parents = new HashSet<>();
      parents.add(base.currentSnapshot() == null ? null : base.currentSnapshot().snapshotId());
      TableMetadata.Builder builder = TableMetadata.buildFrom(base);
      for (MetadataUpdate update : change.updates()) {
        if (update instanceof MetadataUpdate.AddSnapshot add) {
          Snapshot snapshot = add.snapshot();
          if (!parents.contains(snapshot.parentId())) {
            throw new CommitFailedException(
                "Cannot commit %s: snapshot %s was made on snapshot %s, but the table is at %s now",
                id, snapshot.snapshotId(), snapshot.parentId(),
                base.currentSnapshot() == null ? "no snapshot" : base.currentSnapshot().snapshotId());
          }
          parents.add(snapshot.snapshotId());
        }
        update.applyTo(builder);
      }
      TableMetadata updated;
      try {
        updated = builder.build();
      } catch (ValidationException e) {
        throw new CommitFailedException(e, "Cannot commit %s: %s", id, e.getMessage());
      }
      commits.add(() -> ops.commit(base, updated));
    }
    commits.forEach(Runnable::run);
  }

  private static String redact(String uri) {
    return uri == null ? null : uri.replaceAll("(?i)(password=)[^&;]*", "$1***");
  }
}
