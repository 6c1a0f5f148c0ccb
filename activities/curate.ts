/**
 * Raw → curated activities: a day's raw files of source A or B typed, unnested and
 * published to the curated Iceberg table, with the rejected records and the lineage row
 * (lib/curate/curate-day.ts).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../lib/config.ts';
import { curateDay, type CuratedDay } from '../lib/curate/curate-day.ts';
import { MalformedFileError } from '../lib/curate/errors.ts';
import { RecordCountError } from '../lib/lake/publish.ts';
import { latestDeliveries, listRawFiles } from '../lib/lake/raw.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { fileSource } from '../lib/sources/catalog.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { chooseEngine, type Engine } from '../lib/engine/engines.ts';
import { addDays } from '../lib/time/days.ts';
import { runOnSpark, type SparkActivityDeps } from './spark.ts';

export interface CurateDeps {
  readonly config: Config;
  readonly store: ObjectStore;
  /** For the Spark engines (ENGINE / ENGINE_OVERRIDES); DuckDB needs none of it. */
  readonly spark: SparkActivityDeps;
}

export interface CurateInput {
  readonly source: string;
  /** The raw partition (ingestion day) to curate. */
  readonly ingestDay: string;
  /** The run recorded as the commit's author in the lineage table. */
  readonly run: { readonly workflowId: string; readonly runId: string };
}

export type CurateResult = CuratedDay & {
  /** The engine that ran it (the workflow shows it as the Engine search attribute). */
  readonly engine: Engine;
};

export function createCurateActivities(deps: CurateDeps) {
  return {
    async curateRawDay(input: CurateInput): Promise<CurateResult> {
      const def = fileSource(deps.config, input.source);
      // A changed re-delivery is a second raw object; curated is built from the newest.
      const raw = latestDeliveries(await listRawFiles(deps.store, input.source, input.ingestDay));
      if (raw.length === 0) {
        throw ApplicationFailure.nonRetryable(`raw/${input.source}/day=${input.ingestDay}/ holds no files to curate`, 'RawPartitionEmpty');
      }
      const transform = input.source === 'source_a' ? 'curate_source_a' : 'curate_source_b';
      const { engine } = chooseEngine(deps.config, transform, raw.reduce((n, r) => n + r.size, 0));
      const files = raw.map((r) => ({ location: deps.store.locationOf(r.key), rawKey: r.key }));
      const lineage = { ...input.run, inputs: raw.map((r) => ({ key: r.key, sha256: r.sha256 })) };
      if (engine !== 'duckdb') {
        // The same publish as curateDay's below, by a job of deploy/spark/jobs.
        const [table, scope, job] =
          def.id === 'source_a'
            ? (() => {
                const curatedDay = addDays(input.ingestDay, -def.lagDays);
                return ['curated.source_a', `day=${curatedDay}`, { ingestDay: input.ingestDay, curatedDay, files, lineage }] as const;
              })()
            : (['curated.source_b', `_ingest_day=${input.ingestDay}`, { ingestDay: input.ingestDay, timestampField: def.timestampField ?? 'updated_at', files, lineage }] as const);
        const r = await runOnSpark(deps.spark, {
          engine,
          transform,
          input: job,
          ...input.run,
          step: `${transform}:${input.ingestDay}`,
          outcome: { kind: 'lineage', table, scope },
        });
        return { rows: r.rows, rejected: r.rejected, retries: r.retries, table, scope, rawFiles: raw.length, engine };
      }
      const session = await openLakeSession(deps.config);
      try {
        const curated = await curateDay(session, {
          def,
          ingestDay: input.ingestDay,
          files: files.map((f) => ({ ...f, open: () => deps.store.get(f.rawKey) })),
          lineage,
          progress: (step) => Context.current().heartbeat(step),
        });
        return { ...curated, engine };
      } catch (err) {
        // Retrying will not make a bad file readable; nothing was committed.
        if (err instanceof MalformedFileError) throw ApplicationFailure.nonRetryable(err.message, 'MalformedFile');
        if (err instanceof RecordCountError) throw ApplicationFailure.nonRetryable(err.message, 'RecordCountMismatch');
        throw err;
      } finally {
        session.close();
      }
    },
  };
}

export type CurateActivities = ReturnType<typeof createCurateActivities>;
