/**
 * A curate run that fails part-way commits nothing, and the re-run then publishes the
 * whole day: here the byte scan that runs alongside the insert breaks mid-file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { curateDay } from '../lib/curate/curate-day.ts';
import { rawFileOnDisk, type RawFileLocation } from '../lib/curate/source-a.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import { generateSourceFile, sourceFileName, type GenerateResult } from '../simulators/files/generate.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';

const INGEST_DAY = '2021-10-04';

describe('curate failures', () => {
  let lake: TestLake;
  let session: LakeSession;
  let dir: string;
  let file: GenerateResult;
  let raw: RawFileLocation;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tempolake-curate-fail-'));
    lake = await startTestLake();
    session = await openLakeSession(lake.config);
    file = await generateSourceFile({ source: 'a', day: INGEST_DAY, records: 20_000, malformedRate: 0.01, seed: 'fail', out: path.join(dir, sourceFileName('a', INGEST_DAY)) });
    raw = rawFileOnDisk(file.path, `raw/source_a/day=${INGEST_DAY}/${path.basename(file.path)}`);
  });
  after(async () => {
    session?.close();
    await lake?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const curate = (files: RawFileLocation[], run: string) =>
    curateDay(session, {
      def: { id: 'source_a', lagDays: 3 },
      ingestDay: INGEST_DAY,
      files,
      lineage: { workflowId: `curate:source_a:${INGEST_DAY}`, runId: run, inputs: [{ key: raw.rawKey, sha256: 'x' }] },
    });
  const count = async (sql: string): Promise<number> => Number((await session.rows<{ n: string }>(sql))[0]?.n);

  it('commits nothing when the raw stream breaks during the publish, and a re-run publishes every record', async () => {
    const broken: RawFileLocation = {
      ...raw,
      async open() {
        const inner = await raw.open();
        return (async function* () {
          let sent = 0;
          for await (const chunk of inner) {
            if ((sent += chunk.length) > 100_000) throw new Error('connection reset by peer');
            yield chunk;
          }
        })();
      },
    };
    await assert.rejects(curate([broken], 'broken'), /connection reset by peer/);
    assert.equal(await count(`SELECT count(*) AS n FROM lake.curated.source_a`), 0);
    assert.equal(await count(`SELECT count(*) AS n FROM lake.rejected.records`), 0);
    assert.equal(await count(`SELECT count(*) AS n FROM lake.lineage.commits`), 0);

    const result = await curate([raw], 'retry');
    const malformed = Object.values(file.malformed).reduce((a, b) => a + b, 0);
    assert.ok(malformed > 0, 'the file carries malformed records');
    assert.equal(result.rows + result.rejected, 20_000);
    assert.equal(result.rejected, malformed);
    assert.equal(await count(`SELECT count(*) AS n FROM lake.curated.source_a WHERE "day" = DATE '2021-10-01'`), result.rows);
    assert.equal(await count(`SELECT count(*) AS n FROM lake.lineage.commits WHERE run_id = 'retry'`), 1);
  });
});
