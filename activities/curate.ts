/**
 * Raw → curated activities: stage a day's raw files in DuckDB, type and unnest them,
 * and publish the curated rows, the rejected records and the lineage row in one
 * Iceberg commit.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../lib/config.ts';
import { MalformedFileError, SOURCE_B_REJECTED_SQL, sourceBRowsSql, stageSourceB } from '../lib/curate/source-b.ts';
import { SOURCE_A_REJECTED_SQL, sourceARowsSql, stageSourceA } from '../lib/curate/source-a.ts';
import { latestDeliveries, listRawFiles } from '../lib/lake/raw.ts';
import { publishPartition, type PublishResult } from '../lib/lake/publish.ts';
import { openLakeSession, sqlString } from '../lib/lake/session.ts';
import { ALL_TABLES, CURATED_SOURCE_A, CURATED_SOURCE_B, ensureTables } from '../lib/lake/tables.ts';
import { fileSource } from '../lib/sources/catalog.ts';
import { addDays } from '../lib/time/days.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';

export interface CurateDeps {
  readonly config: Config;
  readonly store: ObjectStore;
}

export interface CurateInput {
  readonly source: string;
  /** The raw partition (ingestion day) to curate. */
  readonly ingestDay: string;
  /** The run recorded as the commit's author in the lineage table. */
  readonly run: { readonly workflowId: string; readonly runId: string };
}

export interface CurateResult extends PublishResult {
  readonly table: string;
  /** The replaced scope, e.g. `day=2021-10-01`. */
  readonly scope: string;
  readonly rawFiles: number;
}

export function createCurateActivities(deps: CurateDeps) {
  return {
    async curateRawDay(input: CurateInput): Promise<CurateResult> {
      const def = fileSource(deps.config, input.source);
      const raw = latestDeliveries(await listRawFiles(deps.store, input.source, input.ingestDay));
      if (raw.length === 0) {
        throw ApplicationFailure.nonRetryable(`raw/${input.source}/day=${input.ingestDay}/ holds no files to curate`, 'RawPartitionEmpty');
      }
      const lineage = { ...input.run, inputs: raw.map((r) => ({ key: r.key, sha256: r.sha256 })) };
      const session = await openLakeSession(deps.config);
      try {
        await ensureTables(session, ALL_TABLES);
        for (const file of raw) {
          Context.current().heartbeat({ staging: file.key });
          try {
            if (def.id === 'source_a') {
              await stageSourceA(session, { location: deps.store.locationOf(file.key), rawKey: file.key });
            } else {
              await stageSourceB(session, { location: deps.store.locationOf(file.key), rawKey: file.key, timestampField: def.timestampField ?? 'updated_at' });
            }
          } catch (err) {
            throw unreadable(file.key, err);
          }
        }
        Context.current().heartbeat({ publishing: true });
        if (def.id === 'source_a') {
          const curatedDay = addDays(input.ingestDay, -def.lagDays);
          const result = await publishPartition(session, {
            table: CURATED_SOURCE_A,
            source: def.id,
            ingestDay: input.ingestDay,
            replaceWhere: `"day" = DATE ${sqlString(curatedDay)}`,
            scope: `day=${curatedDay}`,
            rowsSql: sourceARowsSql({ curatedDay, ingestDay: input.ingestDay }),
            rejectedSql: SOURCE_A_REJECTED_SQL,
            lineage,
          });
          return { ...result, table: 'curated.source_a', scope: `day=${curatedDay}`, rawFiles: raw.length };
        }
        // B's rows spread over the days of their timestamps: the unit replaced is the ingestion.
        const result = await publishPartition(session, {
          table: CURATED_SOURCE_B,
          source: def.id,
          ingestDay: input.ingestDay,
          replaceWhere: `"_ingest_day" = DATE ${sqlString(input.ingestDay)}`,
          scope: `_ingest_day=${input.ingestDay}`,
          rowsSql: sourceBRowsSql({ ingestDay: input.ingestDay }),
          rejectedSql: SOURCE_B_REJECTED_SQL,
          lineage,
        });
        return { ...result, table: 'curated.source_b', scope: `_ingest_day=${input.ingestDay}`, rawFiles: raw.length };
      } finally {
        session.close();
      }
    },
  };
}

/** A file DuckDB cannot read as its format is bad input: retrying will not help, and nothing is committed. */
function unreadable(key: string, err: unknown): Error {
  const message = (err as Error).message.split('\n')[0] ?? '';
  if (err instanceof MalformedFileError) return ApplicationFailure.nonRetryable(message, 'MalformedFile');
  if (/Invalid Input Error|Conversion Error|CSV Error|Parser Error/i.test(message)) {
    return ApplicationFailure.nonRetryable(`${key} is not readable as its source's format: ${message}`, 'MalformedFile');
  }
  return err as Error;
}

export type CurateActivities = ReturnType<typeof createCurateActivities>;
