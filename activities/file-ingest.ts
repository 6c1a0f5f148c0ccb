/**
 * Source A/B ingestion activities: find the day's file at the source, download it
 * to a temporary file (heartbeating progress), and create it once in the raw zone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../lib/config.ts';
import { writeRawFile } from '../lib/lake/raw.ts';
import { fileSource } from '../lib/sources/catalog.ts';
import { displayUrl, downloadSourceFile, findSourceFiles, SourceConnectionError, SourceFileMissingError } from '../lib/sources/file-source.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';

export interface FileIngestDeps {
  readonly config: Config;
  readonly store: ObjectStore;
}

/** What a workflow carries: lake keys and checksums, never the rows. */
export interface RawFileRef {
  readonly key: string;
  readonly sha256: string;
  readonly size: number;
  readonly created: boolean;
}

/** A source URL fit for messages and sidecars: no password. */
const redact = (url: string): string => {
  try {
    return displayUrl(new URL(url));
  } catch {
    return '(unparsable source URL)';
  }
};

/**
 * A dropped connection is retried here a few times at once (a re-download is cheap next to
 * waiting for Temporal's next attempt); a file that vanished waits for the workflow's retry.
 */
async function downloadWithRetries<T>(download: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await download();
    } catch (err) {
      if (err instanceof SourceFileMissingError) throw ApplicationFailure.retryable(err.message, 'SourceFileMissing');
      if (!(err instanceof SourceConnectionError) || attempt >= attempts) throw err;
      Context.current().heartbeat({ retrying: err.message, attempt });
      await sleep(1000 * attempt);
    }
  }
}

export function createFileIngestActivities(deps: FileIngestDeps) {
  return {
    /**
     * Fetches the files of `day` into raw/<source>/day=<day>/. No file at the source yet
     * is a retryable `SourceFileMissing` failure: the workflow's retry policy polls again
     * later, and the Temporal UI shows the pending attempt with this message.
     */
    async fetchSourceFilesToRaw(input: { source: string; day: string }): Promise<RawFileRef[]> {
      const def = fileSource(deps.config, input.source);
      const spec = { url: def.url, pattern: def.pattern };
      const files = await findSourceFiles(spec, input.day);
      if (files.length === 0) {
        throw ApplicationFailure.retryable(
          `no file matching "${def.pattern}" for ${input.day} at ${redact(def.url)} yet`,
          'SourceFileMissing',
        );
      }
      const dir = await mkdtemp(path.join(tmpdir(), `tempolake-${input.source}-`));
      try {
        const out: RawFileRef[] = [];
        for (const file of files) {
          const local = path.join(dir, file.name);
          const fetchedAt = new Date().toISOString();
          await downloadWithRetries(() =>
            downloadSourceFile(spec, file, local, (bytes) => Context.current().heartbeat({ file: file.name, bytes }), {
              signal: Context.current().cancellationSignal,
            }),
          );
          const raw = await writeRawFile(deps.store, {
            source: input.source,
            day: input.day,
            fileName: file.name,
            content: { localPath: local },
            origin: file.url,
            fetchedAt,
          });
          out.push({ key: raw.key, sha256: raw.sha256, size: raw.size, created: raw.created });
          Context.current().heartbeat({ file: file.name, stored: raw.key });
        }
        return out;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

export type FileIngestActivities = ReturnType<typeof createFileIngestActivities>;
