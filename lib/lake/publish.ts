/**
 * Publishing to the lake: one Iceberg commit that replaces a scope of a table
 * (its rows for a day), replaces the matching rejected records and appends a
 * lineage row. Readers see the old rows or the new, never a mix; a re-run
 * replaces instead of doubling. A commit that loses a race (409 from the
 * catalog) is retried here: DuckDB does not retry it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sqlString, type LakeSession } from './session.ts';
import { LINEAGE_COMMITS, qualified, REJECTED_RECORDS, type TableDef } from './tables.ts';

export interface RawInput {
  /** A raw file's key, or `iceberg:<namespace.name>` for an upstream table. */
  readonly key: string;
  readonly sha256: string;
  /** An upstream table's snapshot the publish read (the table's current one when it started). */
  readonly snapshotId?: string;
}

export interface Lineage {
  readonly workflowId: string;
  readonly runId: string;
  readonly inputs: readonly RawInput[];
}

export interface PublishSpec {
  readonly table: TableDef;
  readonly source: string;
  readonly ingestDay: string;
  /** SQL predicate choosing the rows this publish replaces, e.g. `"day" = DATE '2021-10-01'`. */
  readonly replaceWhere: string;
  /** Human-readable form of replaceWhere, recorded in lineage. */
  readonly scope: string;
  /** A query yielding the new rows, in the table's column order. */
  readonly rowsSql: string;
  /**
   * Work run while `rowsSql` is inserted, e.g. scanning the raw bytes on the Node thread
   * while DuckDB's threads write the data files. It must leave the session alone until
   * `inserted` settles. It may name more rows, inserted after `rowsSql`, and the record
   * count (each attempt runs it again: a rolled-back attempt's work is gone).
   */
  readonly alongside?: (inserted: Promise<unknown>) => Promise<{ readonly moreRowsSql?: string; readonly expectedRecords?: number }>;
  /** A query yielding (raw_key, line, reason, record) of the rejected records; when given, they replace the ingestion's (source, ingestDay) earlier ones. */
  readonly rejectedSql?: string;
  /**
   * Records the inputs hold: rows + rejected must add up to it, or nothing is committed —
   * a record that lands in neither would be lost silently.
   */
  readonly expectedRecords?: number;
  readonly lineage: Lineage;
}

export interface PublishResult {
  readonly rows: number;
  readonly rejected: number;
  /** Commits that lost a race and were redone. */
  readonly retries: number;
}

/** Curated + rejected do not account for every input record: a bug, never committed. */
export class RecordCountError extends Error {
  override name = 'RecordCountError';
}

export class CommitConflictError extends Error {
  override name = 'CommitConflictError';
}

const isConflict = (err: unknown): boolean => /Conflict_409|CommitFailedException|409/.test(String((err as Error)?.message));

export interface PublishOptions {
  readonly maxAttempts?: number;
  /** Runs just before COMMIT on each attempt (tests use it to lose a race on purpose). */
  readonly beforeCommit?: (attempt: number) => Promise<void>;
}

/**
 * Runs `work` inside BEGIN … COMMIT and redoes the whole of it when the commit loses a
 * race (409 from the catalog); any other failure rolls back and is thrown. `work` must
 * be safe to run again: a rolled-back attempt leaves nothing behind in the lake.
 */
export async function inLakeTransaction<T>(
  session: LakeSession,
  label: string,
  work: (attempt: number) => Promise<T>,
  opts: PublishOptions = {},
): Promise<T & { retries: number }> {
  const maxAttempts = opts.maxAttempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    try {
      // A table has no row order: DuckDB writes faster when it need not keep the input's.
      await session.run('SET preserve_insertion_order = false');
      await session.run('BEGIN');
      const result = await work(attempt);
      await opts.beforeCommit?.(attempt);
      await session.run('COMMIT');
      await session.run('RESET preserve_insertion_order');
      return { ...result, retries: attempt - 1 };
    } catch (err) {
      await session.run('ROLLBACK').catch(() => undefined);
      await session.run('RESET preserve_insertion_order').catch(() => undefined);
      if (!isConflict(err)) throw err;
      if (attempt >= maxAttempts) throw new CommitConflictError(`commit to ${label} lost ${attempt} races: ${(err as Error).message.split('\n')[0]}`);
      // Jittered backoff so racing writers do not collide again in lockstep.
      await sleep(Math.min(2000, 50 * 2 ** attempt) * (0.5 + Math.random()));
    }
  }
}

export async function publishPartition(session: LakeSession, spec: PublishSpec, opts: PublishOptions = {}): Promise<PublishResult> {
  const rawKey = spec.lineage.inputs.map((i) => i.key).join(',');
  return inLakeTransaction(
    session,
    qualified(spec.table),
    async () => {
      await session.run(`DELETE FROM ${qualified(spec.table)} WHERE ${spec.replaceWhere}`);
      const insert = session.rows<{ Count: string }>(`INSERT INTO ${qualified(spec.table)} ${spec.rowsSql}`);
      const [inserting, extra] = await Promise.allSettled([insert, spec.alongside?.(insert)]);
      // The insert's failure first: the alongside work may only have failed because of it.
      if (inserting.status === 'rejected') throw inserting.reason;
      if (extra.status === 'rejected') throw extra.reason;
      let rows = Number(inserting.value[0]?.Count ?? 0);
      if (extra.value?.moreRowsSql) {
        const [more] = await session.rows<{ Count: string }>(`INSERT INTO ${qualified(spec.table)} ${extra.value.moreRowsSql}`);
        rows += Number(more?.Count ?? 0);
      }
      const expectedRecords = extra.value?.expectedRecords ?? spec.expectedRecords;
      let rejected = 0;
      if (spec.rejectedSql) {
        // The ingestion's rejected records are replaced with it.
        await session.run(`DELETE FROM ${qualified(REJECTED_RECORDS)} WHERE source = ? AND ingest_day = CAST(? AS DATE)`, [spec.source, spec.ingestDay]);
        const [r] = await session.rows<{ Count: string }>(
          `INSERT INTO ${qualified(REJECTED_RECORDS)} SELECT ${sqlString(spec.source)}, DATE ${sqlString(spec.ingestDay)}, raw_key, line, reason, record FROM (${spec.rejectedSql})`,
        );
        rejected = Number(r?.Count ?? 0);
      }
      if (expectedRecords !== undefined && rows + rejected !== expectedRecords) {
        throw new RecordCountError(`${expectedRecords} records in ${rawKey}, but ${rows} curated + ${rejected} rejected: not committed`);
      }
      await session.run(`INSERT INTO ${qualified(LINEAGE_COMMITS)} VALUES (?, ?, CAST(? AS DATE), ?, ?, ?, ?, ?, now())`, [
        `${spec.table.namespace}.${spec.table.name}`,
        spec.scope,
        spec.ingestDay,
        spec.lineage.workflowId,
        spec.lineage.runId,
        JSON.stringify(spec.lineage.inputs),
        rows,
        rejected,
      ]);
      return { rows, rejected };
    },
    opts,
  );
}
