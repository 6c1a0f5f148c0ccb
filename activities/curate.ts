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

export type CurateResult = CuratedDay;

export function createCurateActivities(deps: CurateDeps) {
  return {
    async curateRawDay(input: CurateInput): Promise<CurateResult> {
      const def = fileSource(deps.config, input.source);
      // A changed re-delivery is a second raw object; curated is built from the newest.
      const raw = latestDeliveries(await listRawFiles(deps.store, input.source, input.ingestDay));
      if (raw.length === 0) {
        throw ApplicationFailure.nonRetryable(`raw/${input.source}/day=${input.ingestDay}/ holds no files to curate`, 'RawPartitionEmpty');
      }
      const session = await openLakeSession(deps.config);
      try {
        return await curateDay(session, {
          def,
          ingestDay: input.ingestDay,
          files: raw.map((r) => ({ location: deps.store.locationOf(r.key), rawKey: r.key, open: () => deps.store.get(r.key) })),
          lineage: { ...input.run, inputs: raw.map((r) => ({ key: r.key, sha256: r.sha256 })) },
          progress: (step) => Context.current().heartbeat(step),
        });
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
