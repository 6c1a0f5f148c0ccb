/**
 * One raw day of a file source → its curated table, the rejected records and the lineage
 * row: the whole of ProcessToCurated's work, shared by the activity, the benchmark and
 * the tests so they measure and check exactly what production runs.
 */
import type { LakeSession } from '../lake/session.ts';
import { sqlString } from '../lake/session.ts';
import { publishPartition, type Lineage, type PublishOptions, type PublishResult } from '../lake/publish.ts';
import { ALL_TABLES, CURATED_SOURCE_A, CURATED_SOURCE_B, ensureTables } from '../lake/tables.ts';
import type { FileSourceDef } from '../sources/catalog.ts';
import { addDays } from '../time/days.ts';
import { judgeSourceARows, pickSourceASuspects, SOURCE_A_REJECTED_SQL, sourceAFastRowsSql, sourceARescuedRowsSql, type RawFileLocation } from './source-a.ts';
import { MalformedFileError } from './errors.ts';
import { SOURCE_B_REJECTED_SQL, sourceBRowsSql, stageSourceB } from './source-b.ts';

export interface CuratedDay extends PublishResult {
  readonly table: string;
  /** The replaced scope, e.g. `day=2021-10-01`. */
  readonly scope: string;
  readonly rawFiles: number;
}

export interface CurateDayInput {
  readonly def: Pick<FileSourceDef, 'id' | 'lagDays' | 'timestampField'>;
  readonly ingestDay: string;
  readonly files: readonly RawFileLocation[];
  readonly lineage: Lineage;
  /** Called between steps (activities heartbeat with it). */
  readonly progress?: (step: string) => void;
  readonly publish?: PublishOptions;
}

export async function curateDay(session: LakeSession, input: CurateDayInput): Promise<CuratedDay> {
  const { def, ingestDay, files } = input;
  await ensureTables(session, ALL_TABLES);
  if (def.id === 'source_a') {
    const curatedDay = addDays(ingestDay, -def.lagDays);
    const days = { curatedDay, ingestDay };
    // Pass 1 (which rows the reader fails) before the publish; pass 2 (a byte scan for the
    // suspects' text and the record count) runs while the valid rows are inserted.
    const verdict = await readable(files, () => judgeSourceARows(session, files));
    const suspects = verdict.files.reduce((n, f) => n + f.suspects, 0);
    input.progress?.(`publishing day=${curatedDay} (${suspects} suspect lines to judge)`);
    const result = await publishPartition(
      session,
      {
        table: CURATED_SOURCE_A,
        source: def.id,
        ingestDay,
        replaceWhere: `"day" = DATE ${sqlString(curatedDay)}`,
        scope: `day=${curatedDay}`,
        rowsSql: sourceAFastRowsSql(files, days),
        alongside: async (inserted) => ({
          expectedRecords: await pickSourceASuspects(session, verdict, inserted),
          moreRowsSql: sourceARescuedRowsSql(days),
        }),
        rejectedSql: SOURCE_A_REJECTED_SQL,
        lineage: input.lineage,
      },
      input.publish,
    );
    return { ...result, table: 'curated.source_a', scope: `day=${curatedDay}`, rawFiles: files.length };
  }
  for (const file of files) {
    input.progress?.(`staging ${file.rawKey}`);
    await readable([file], () => stageSourceB(session, { ...file, timestampField: def.timestampField ?? 'updated_at' }));
  }
  // B's rows spread over the days of their timestamps: the unit replaced is the ingestion.
  const result = await publishPartition(
    session,
    {
      table: CURATED_SOURCE_B,
      source: def.id,
      ingestDay,
      replaceWhere: `"_ingest_day" = DATE ${sqlString(ingestDay)}`,
      scope: `_ingest_day=${ingestDay}`,
      rowsSql: sourceBRowsSql({ ingestDay }),
      rejectedSql: SOURCE_B_REJECTED_SQL,
      lineage: input.lineage,
    },
    input.publish,
  );
  return { ...result, table: 'curated.source_b', scope: `_ingest_day=${ingestDay}`, rawFiles: files.length };
}

/** A file DuckDB cannot read as its format is bad input, not a passing fault. */
async function readable<T>(files: readonly RawFileLocation[], read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof MalformedFileError) throw err;
    const message = (err as Error).message.split('\n')[0] ?? '';
    if (/Invalid Input Error|Conversion Error|CSV Error|Parser Error|Invalid unicode/i.test(message)) {
      throw new MalformedFileError(`${files.map((f) => f.rawKey).join(', ')} is not readable as its source's format: ${message}`);
    }
    throw err;
  }
}
