/**
 * The warehouse on Amazon Redshift, through the Redshift Data API: HTTPS calls signed with
 * the worker's AWS credentials, no driver, no connection to keep, no VPC route needed.
 *
 * A load is ONE BatchExecuteStatement (sql.ts: stage, check keys, record, replace), so it
 * commits or rolls back whole, then DescribeStatement is polled until it ends. Its
 * ClientToken is a hash of the load id, so an activity retry re-attaches to the statement
 * it already sent (running or finished) instead of running the load twice.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BatchExecuteStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  GetStatementResultCommand,
  RedshiftDataClient,
  type DescribeStatementCommandOutput,
  type Field,
} from '@aws-sdk/client-redshift-data';
import type { Config } from '../../config.ts';
import { DuplicateKeyError, WarehouseError, type LoadRequest, type LoadResult, type Warehouse } from '../warehouse.ts';
import {
  checkLakeCatalog,
  checkStatement,
  createRoleSql,
  dropTableSql,
  ensureSchemaBatch,
  externalColumnsSql,
  externalSchemasSql,
  loadBatch,
  loadRecordSql,
  personalExternalSchema,
  personalExternalSchemaSql,
  replaceTableBatch,
  roleExistsSql,
  tableExistsSql,
} from './sql.ts';

export interface RedshiftWarehouseOptions {
  /** A client of the caller's (tests: the fake's endpoint); close() leaves it open. */
  readonly client?: RedshiftDataClient;
  /** Pause between DescribeStatement calls (default 1 s). */
  readonly pollMs?: number;
  /**
   * Longest wait for one statement (default 1 h). Past it the load fails without cancelling:
   * the statement runs on, and a retry with the same load id re-attaches to it.
   */
  readonly maxWaitMs?: number;
}

/** The Data API's connection parameters, sent with every ExecuteStatement/BatchExecuteStatement. */
export interface RedshiftTarget {
  readonly ClusterIdentifier?: string;
  readonly WorkgroupName?: string;
  readonly DbUser?: string;
  readonly SecretArn?: string;
  readonly Database: string;
}

/**
 * A statement found under a load's token that failed longer ago than this belongs to an
 * earlier attempt: the next token of the chain is tried (see submitLoad). The margin
 * absorbs clock skew between the worker and AWS.
 */
export const EARLIER_ATTEMPT_MS = 30_000;
/** Failed attempts walked past in one call before giving up (each one ran and failed). */
const MAX_TOKEN_GENERATIONS = 20;

/** Validates the REDSHIFT_* settings; throws a WarehouseError naming the variable. */
export function redshiftTarget(config: Config): RedshiftTarget {
  const { redshiftClusterId: cluster, redshiftWorkgroup: workgroup, redshiftDbUser: dbUser, redshiftSecretArn: secret } = config;
  if (!cluster && !workgroup) {
    throw new WarehouseError('WAREHOUSE=redshift needs REDSHIFT_CLUSTER_ID (provisioned cluster) or REDSHIFT_WORKGROUP (Redshift Serverless)');
  }
  if (cluster && workgroup) throw new WarehouseError('set only one of REDSHIFT_CLUSTER_ID and REDSHIFT_WORKGROUP');
  if (dbUser && secret) throw new WarehouseError('set only one of REDSHIFT_DB_USER (temporary credentials) and REDSHIFT_SECRET_ARN (Secrets Manager)');
  if (workgroup && dbUser) {
    throw new WarehouseError('REDSHIFT_DB_USER applies to provisioned clusters only: Redshift Serverless maps the IAM identity to a user, or use REDSHIFT_SECRET_ARN');
  }
  if (!config.redshiftDatabase) throw new WarehouseError('REDSHIFT_DATABASE is empty');
  if (!config.redshiftRegion) throw new WarehouseError('REDSHIFT_REGION is empty');
  checkLakeCatalog({ iamRole: config.redshiftIamRole, glueDatabasePrefix: config.redshiftGlueDatabasePrefix });
  return {
    ...(cluster ? { ClusterIdentifier: cluster } : { WorkgroupName: workgroup }),
    ...(dbUser ? { DbUser: dbUser } : {}),
    ...(secret ? { SecretArn: secret } : {}),
    Database: config.redshiftDatabase,
  };
}

/**
 * The Data API idempotency token of a load: hex SHA-256 (64 characters, printable ASCII)
 * of the load id, chained with the ids of earlier failed attempts (`previous`).
 */
export function loadClientToken(loadId: string, previous: readonly string[] = []): string {
  return createHash('sha256').update([loadId, ...previous].join('\n')).digest('hex');
}

function fieldNumber(f: Field | undefined, what: string): number {
  if (f && 'longValue' in f && f.longValue !== undefined) return f.longValue;
  if (f && 'doubleValue' in f && f.doubleValue !== undefined) return f.doubleValue;
  if (f && 'stringValue' in f && f.stringValue !== undefined && /^\d+$/.test(f.stringValue)) return Number(f.stringValue);
  throw new WarehouseError(`unexpected ${what} in Redshift result: ${JSON.stringify(f)}`);
}

/** Warehouse over Redshift (provisioned or Serverless) through the Data API. */
export function createRedshiftWarehouse(config: Config, opts: RedshiftWarehouseOptions = {}): Warehouse {
  const target = redshiftTarget(config);
  const lake = { iamRole: config.redshiftIamRole, glueDatabasePrefix: config.redshiftGlueDatabasePrefix };
  const pollMs = opts.pollMs ?? 1000;
  const maxWaitMs = opts.maxWaitMs ?? 3_600_000;
  const ownsClient = opts.client === undefined;
  const client =
    opts.client ??
    new RedshiftDataClient({ region: config.redshiftRegion, ...(config.redshiftDataEndpoint ? { endpoint: config.redshiftDataEndpoint } : {}) });

  const describe = (id: string): Promise<DescribeStatementCommandOutput> => client.send(new DescribeStatementCommand({ Id: id }));

  /**
   * Polls until the statement ends; a failure carries Redshift's own error text, or what
   * `explain` makes of the failed sub-statement's index.
   */
  async function waitFor(
    id: string,
    what: string,
    onProgress?: (detail: string) => void,
    explain?: (failedIndex: number) => string | undefined,
  ): Promise<DescribeStatementCommandOutput> {
    const t0 = Date.now();
    for (;;) {
      const d = await describe(id);
      if (d.Status === 'FINISHED') return d;
      if (d.Status === 'FAILED' || d.Status === 'ABORTED') {
        const subs = d.SubStatements ?? [];
        // The statement that FAILED; the ones after it (and a cancelled batch's) are ABORTED.
        const firstFailed = subs.findIndex((s) => s.Status === 'FAILED');
        const failed = firstFailed >= 0 ? firstFailed : subs.findIndex((s) => s.Status === 'ABORTED');
        const sub = subs[failed];
        const where = sub ? ` at statement ${failed + 1} of ${subs.length} (${(sub.QueryString ?? '').split('\n')[0]})` : '';
        const text = d.Error ?? sub?.Error ?? 'no error text';
        const meaning = failed >= 0 ? explain?.(failed) : undefined;
        const Failure = /duplicate key/.test(text) ? DuplicateKeyError : WarehouseError;
        throw new Failure(`Redshift ${what} ${d.Status}${where}: ${meaning ? `${meaning} (Redshift: ${text})` : text} [statement ${id}]`);
      }
      const waited = Date.now() - t0;
      if (waited > maxWaitMs) {
        throw new WarehouseError(
          `Redshift ${what} still ${d.Status} after ${Math.round(waited / 1000)} s [statement ${id}]; it was not cancelled, and a retry with the same load id re-attaches to it`,
        );
      }
      onProgress?.(`redshift ${what}: ${d.Status} after ${Math.round(waited / 1000)} s [statement ${id}]`);
      await sleep(pollMs);
    }
  }

  async function execute(sql: string, what: string): Promise<DescribeStatementCommandOutput> {
    const out = await client.send(new ExecuteStatementCommand({ ...target, Sql: checkStatement(sql) }));
    return waitFor(out.Id as string, what);
  }

  /**
   * Sends the load batch under the load's token. The token chain makes retries safe both
   * ways: a statement already sent by an earlier attempt is re-attached to while it runs or
   * once finished, and one that FAILED earlier (a conflict, a restart) is not returned
   * forever for the token's 8 hours: the next token, derived from the failed id, runs anew.
   */
  async function submitLoad(load: { loadId: string; name: string; onProgress: ((detail: string) => void) | undefined }, sqls: string[]): Promise<string> {
    const callStart = Date.now();
    const failed: string[] = [];
    for (let gen = 0; gen < MAX_TOKEN_GENERATIONS; gen++) {
      const out = await client.send(
        new BatchExecuteStatementCommand({
          ...target,
          Sqls: sqls,
          ClientToken: loadClientToken(load.loadId, failed),
          StatementName: `tempolake:load:${load.name}`,
        }),
      );
      const id = out.Id as string;
      const earlier = out.CreatedAt !== undefined && out.CreatedAt.getTime() < callStart - EARLIER_ATTEMPT_MS;
      if (!earlier) return id;
      const status = (await describe(id)).Status;
      if (status !== 'FAILED' && status !== 'ABORTED') return id;
      load.onProgress?.(`redshift load ${load.name}: earlier attempt ${id} ${status}, sending again`);
      failed.push(id);
    }
    throw new WarehouseError(`Redshift load ${load.loadId}: ${MAX_TOKEN_GENERATIONS} earlier attempts failed (${failed.join(', ')})`);
  }

  /** The first column of a one-row query's result, as a number. */
  async function queryNumber(sql: string, what: string): Promise<number> {
    const d = await execute(sql, what);
    const res = await client.send(new GetStatementResultCommand({ Id: d.Id as string }));
    return fieldNumber(res.Records?.[0]?.[0], what);
  }

  /** The source table's columns as Glue registers them; a table Glue does not know is a clear error, retried (registration may lag). */
  async function externalColumns(namespace: string, table: string): Promise<string[]> {
    const d = await execute(externalColumnsSql(namespace, table), 'column lookup');
    const res = await client.send(new GetStatementResultCommand({ Id: d.Id as string }));
    const columns = (res.Records ?? []).map((r) => (r[0] && 'stringValue' in r[0] ? r[0].stringValue : undefined)).filter((c): c is string => c !== undefined);
    if (columns.length === 0) {
      throw new WarehouseError(`${namespace}.${table} is not in the Glue Data Catalog (external schema ${personalExternalSchema(namespace)} lists no columns for it)`);
    }
    return columns;
  }

  /** Creates the customer's role unless it exists; a creation that lost a race to another worker is fine. */
  async function ensureRole(role: string): Promise<void> {
    if ((await queryNumber(roleExistsSql(role), 'role lookup')) > 0) return;
    try {
      await execute(createRoleSql(role), 'create role');
    } catch (err) {
      if (!(err instanceof WarehouseError && /already exists/i.test(err.message))) throw err;
    }
  }

  /** Rows and replaced as the load recorded them, when sub-statement counts are missing. */
  async function recordedCounts(loadId: string): Promise<{ rows: number; replaced: number }> {
    const d = await execute(loadRecordSql(loadId), 'load record read');
    const res = await client.send(new GetStatementResultCommand({ Id: d.Id as string }));
    const row = res.Records?.[0];
    if (!row) throw new WarehouseError(`Redshift load ${loadId} finished but tempolake_meta.loads has no row for it`);
    return { rows: fieldNumber(row[0], 'rows'), replaced: fieldNumber(row[1], 'replaced') };
  }

  return {
    dialect: 'redshift',

    async replaceTable(request): Promise<LoadResult> {
      const t0 = Date.now();
      const name = `${request.schema}.${request.table}`;
      replaceTableBatch({ ...request, columns: ['x'], exists: false }); // names checked before anything is sent
      request.onProgress?.(`redshift: external schema over ${request.source.namespace}, role ${request.readerRole}`);
      await execute(personalExternalSchemaSql(lake, request.source.namespace), 'external schema');
      const columns = await externalColumns(request.source.namespace, request.source.name);
      await ensureRole(request.readerRole);
      const exists = (await queryNumber(tableExistsSql(request.schema, request.table), 'table lookup')) > 0;
      const batch = replaceTableBatch({ ...request, columns, exists });
      const id = await submitLoad({ loadId: request.loadId, name, onProgress: request.onProgress }, batch.sqls);
      await waitFor(id, `load ${name}`, request.onProgress);
      // CREATE TABLE … AS reports no row count through the Data API: read what the batch recorded.
      const counts = await recordedCounts(request.loadId);
      return { table: name, ...counts, ms: Date.now() - t0 };
    },

    async dropTable(schema: string, table: string): Promise<void> {
      await execute(dropTableSql(schema, table), 'drop table');
    },

    async ensureSchema(): Promise<void> {
      for (const sql of externalSchemasSql(lake)) await execute(sql, 'external schema');
      const out = await client.send(new BatchExecuteStatementCommand({ ...target, Sqls: ensureSchemaBatch(), StatementName: 'tempolake:ensure-schema' }));
      await waitFor(out.Id as string, 'ensure schema');
    },

    async load(request: LoadRequest): Promise<LoadResult> {
      const t0 = Date.now();
      const batch = loadBatch(request);
      const { table } = request;
      const id = await submitLoad({ loadId: request.loadId, name: table.name, onProgress: request.onProgress }, batch.sqls);
      const done = await waitFor(id, `load ${table.name}`, request.onProgress, (i) =>
        i === batch.keyCheckIndex
          ? `lake_operational.${table.source.name} has more than one row per (${table.key.join(', ')}); nothing loaded`
          : undefined,
      );
      // Each sub-statement reports its affected rows (ResultRows; -1 when unknown).
      const inserted = done.SubStatements?.[batch.insertIndex]?.ResultRows;
      const deleted = done.SubStatements?.[batch.deleteIndex]?.ResultRows;
      const counts =
        inserted !== undefined && inserted >= 0 && deleted !== undefined && deleted >= 0
          ? { rows: inserted, replaced: deleted }
          : await recordedCounts(request.loadId);
      return { table: table.name, ...counts, ms: Date.now() - t0 };
    },

    async close(): Promise<void> {
      if (ownsClient) client.destroy();
    },
  };
}
