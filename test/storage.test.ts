/**
 * Both object stores through one suite — local disk in a temp folder, S3 on the local
 * MinIO under a fresh prefix — and the raw zone on top of each.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../lib/clients/s3.ts';
import { loadConfig } from '../lib/config.ts';
import {
  InvalidRawFileError,
  latestDeliveries,
  listRawFiles,
  rawDayPrefix,
  writeRawFile,
  type RawSidecar,
} from '../lib/lake/raw.ts';
import { createObjectStore } from '../lib/storage/index.ts';
import { InvalidKeyError, ObjectNotFoundError, type ObjectStore } from '../lib/storage/object-store.ts';
import { createS3Store } from '../lib/storage/s3-store.ts';

const MIB = 1024 * 1024;
const BIG_BODY_BYTES = 64 * MIB;
/** Set when this file runs as the child process of the memory test. */
const RSS_PROBE_ENV = 'TEMPOLAKE_STORAGE_RSS_PROBE';

/** Enough to open the same store again in another process. */
type StoreSpec = { kind: 'local'; root: string } | { kind: 's3'; prefix: string };

interface OpenedStore {
  spec: StoreSpec;
  store: ObjectStore;
  /** The same storage with the smallest part size S3 allows, to exercise multipart with small bodies. */
  smallPartStore: ObjectStore;
  /** Multipart uploads still pending on `key` (S3 only; disk has none). */
  pendingUploads(key: string): Promise<number>;
  close(): Promise<void>;
}

const backends: { name: string; open(): Promise<OpenedStore> }[] = [
  {
    name: 'local disk',
    async open() {
      const dir = await mkdtemp(path.join(tmpdir(), 'tempolake-store-'));
      const store = createObjectStore({ kind: 'local', root: dir });
      return { spec: { kind: 'local', root: dir }, store, smallPartStore: store, pendingUploads: async () => 0, close: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'S3 (MinIO)',
    async open() {
      const config = loadConfig();
      const s3 = createS3Client(config);
      const prefix = `test/storage-${randomUUID()}`;
      const store = openStore({ kind: 's3', prefix }, s3);
      return {
        spec: { kind: 's3', prefix },
        store,
        smallPartStore: createS3Store({ s3, bucket: config.s3Bucket, prefix, partSize: 5 * MIB }),
        async pendingUploads(key) {
          // MinIO lists uploads only by exact object key, which is what we ask for.
          const res = await s3.send(new ListMultipartUploadsCommand({ Bucket: config.s3Bucket, Prefix: `${prefix}/${key}` }));
          return res.Uploads?.length ?? 0;
        },
        async close() {
          for await (const { key } of store.list('')) await store.delete(key);
          s3.destroy();
        },
      };
    },
  },
];

const rssProbe = process.env[RSS_PROBE_ENV];
if (rssProbe === undefined) registerSuites();
else process.stdout.write(`${JSON.stringify(await streamBigBodyMeasuringRss(JSON.parse(rssProbe) as StoreSpec))}\n`);

function registerSuites(): void {
  for (const backend of backends) {
    describe(`object store on ${backend.name}`, () => {
      let opened: OpenedStore;
      let store: ObjectStore;
      before(async () => {
        opened = await backend.open();
        store = opened.store;
      });
      after(async () => {
        await opened?.close();
      });

      it('put, get, head, list and delete round-trip', async () => {
        const started = Date.now();
        await store.put('rt/b/one.txt', 'one');
        await store.put('rt/b/two.bin', Buffer.from([0, 1, 2, 255]));
        await store.put('rt/c.txt', Readable.from([Buffer.from('streamed '), Buffer.from('body')]));
        await store.put('rt-z.txt', 'dash');

        assert.equal(await readText(await store.get('rt/b/one.txt')), 'one');
        assert.deepEqual(await readBytes(await store.get('rt/b/two.bin')), Buffer.from([0, 1, 2, 255]));
        assert.equal(await readText(await store.get('rt/c.txt')), 'streamed body');

        const head = await store.head('rt/c.txt');
        assert.equal(head?.size, 13);
        assert.ok(head.lastModified instanceof Date);
        assert.ok(Math.abs(head.lastModified.getTime() - started) < 60_000, `lastModified ${head.lastModified.toISOString()}`);
        assert.equal(await store.head('rt/missing'), undefined);
        assert.equal(await store.head('rt/b'), undefined, 'a folder-like prefix is not an object');

        // S3's order is by UTF-8 bytes: 'rt-z.txt' ('-' is 0x2d) sorts before 'rt/…' ('/' is 0x2f).
        assert.deepEqual(await listAll(store, 'rt'), [
          { key: 'rt-z.txt', size: 4 },
          { key: 'rt/b/one.txt', size: 3 },
          { key: 'rt/b/two.bin', size: 4 },
          { key: 'rt/c.txt', size: 13 },
        ]);
        assert.deepEqual(await listAll(store, 'rt/b/t'), [{ key: 'rt/b/two.bin', size: 4 }]);
        assert.deepEqual(await listAll(store, 'nothing-here/'), []);

        await store.put('rt/b/one.txt', 'replaced');
        assert.equal(await readText(await store.get('rt/b/one.txt')), 'replaced');

        const location = store.locationOf('rt/c.txt');
        if (store.kind === 'local') {
          assert.ok(path.isAbsolute(location));
          assert.equal(await readFile(location, 'utf8'), 'streamed body');
        } else {
          assert.equal(location, `${store.rootUri}/rt/c.txt`);
          assert.match(location, /^s3:\/\/tempolake\/test\/storage-[0-9a-f-]+\/rt\/c\.txt$/);
        }

        await store.delete('rt/c.txt');
        assert.equal(await store.head('rt/c.txt'), undefined);
        await assert.rejects(store.get('rt/c.txt'), (e: unknown) => e instanceof ObjectNotFoundError && e.key === 'rt/c.txt');
        await store.delete('rt/c.txt'); // deleting what is gone is not an error
      });

      it('putIfAbsent creates once and keeps the first bytes', async () => {
        assert.deepEqual(await store.putIfAbsent('once/file.txt', 'first'), { created: true });
        const second = Readable.from([Buffer.from('second')]);
        assert.deepEqual(await store.putIfAbsent('once/file.txt', second), { created: false });
        assert.deepEqual(await store.putIfAbsent('once/file.txt', Buffer.from('third')), { created: false });
        assert.equal(await readText(await store.get('once/file.txt')), 'first');
        assert.deepEqual(await listAll(store, 'once/'), [{ key: 'once/file.txt', size: 5 }]);
      });

      it('of 20 concurrent putIfAbsent racers exactly one wins, and its bytes are stored whole', async () => {
        const key = 'race/one-key.bin';
        const bodySize = 256 * 1024;
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, racer) => store.putIfAbsent(key, chunkedStream(bodySize, racer), { contentLength: bodySize })),
        );
        const winners = results.flatMap((r, racer) => (r.created ? [racer] : []));
        assert.equal(winners.length, 1, `winners: ${winners.join(', ')}`);
        assertAllBytes(await readBytes(await store.get(key)), bodySize, winners[0] as number);
      });

      it('racers whose bodies span several parts still leave exactly one whole object', async () => {
        const key = 'race/multipart.bin';
        const bodySize = 6 * MIB; // two parts of the smallest size S3 allows
        const results = await Promise.all(
          Array.from({ length: 4 }, (_, racer) => opened.smallPartStore.putIfAbsent(key, chunkedStream(bodySize, 100 + racer))),
        );
        const winners = results.flatMap((r, racer) => (r.created ? [100 + racer] : []));
        assert.equal(winners.length, 1, `winners: ${winners.join(', ')}`);
        assertAllBytes(await readBytes(await store.get(key)), bodySize, winners[0] as number);
        assert.equal(await opened.pendingUploads(key), 0, 'losing uploads are aborted');
      });

      for (const failAfter of [100 * 1024, 10 * MIB]) {
        it(`a stream that errors after ${failAfter / 1024} KiB leaves no object under the key`, async () => {
          const key = `broken/after-${failAfter}.bin`;
          for (const write of [
            (body: Readable) => store.putIfAbsent(key, body),
            (body: Readable) => store.put(key, body),
          ]) {
            await assert.rejects(write(failingStream(failAfter)), /source broke/);
            assert.equal(await store.head(key), undefined);
            assert.deepEqual(await listAll(store, 'broken/'), []);
            assert.equal(await opened.pendingUploads(key), 0, 'the multipart upload is aborted');
          }
          // Nothing half-made blocks the key afterwards.
          assert.deepEqual(await store.putIfAbsent(key, 'whole'), { created: true });
          await store.delete(key);
        });
      }

      it('a body shorter than its contentLength is refused and leaves nothing', async () => {
        await assert.rejects(store.putIfAbsent('short/x.bin', Readable.from([Buffer.from('abc')]), { contentLength: 4 }), {
          name: 'ContentLengthMismatchError',
        });
        assert.equal(await store.head('short/x.bin'), undefined);
      });

      it('streams a 64 MiB body both ways with memory growth far below its size', async () => {
        const result = await measureInFreshProcess(opened.spec);
        const growthMib = result.growthBytes / MIB;
        console.log(`# ${backend.name}: peak RSS growth while streaming 64 MiB up and down: ${growthMib.toFixed(1)} MiB`);
        assert.equal(result.size, BIG_BODY_BYTES);
        assert.equal(result.storedSize, BIG_BODY_BYTES);
        assert.equal(result.readSha256, result.sentSha256);
        assert.ok(growthMib < 48, `RSS grew by ${growthMib.toFixed(1)} MiB`);
      });

      it('rejects invalid keys with a clear error', async () => {
        const bad = ['', '/abs', 'a//b', 'a/', '..', '../x', 'a/../b', './a', 'a/./b', '.tmp/x', 'a\\b', 'a\u0000b', 'x'.repeat(1025)];
        for (const key of bad) {
          const invalid = (e: unknown): boolean => e instanceof InvalidKeyError && e.message.includes('invalid object key');
          await assert.rejects(store.put(key, 'x'), invalid, `put ${JSON.stringify(key)}`);
          await assert.rejects(store.putIfAbsent(key, 'x'), invalid, `putIfAbsent ${JSON.stringify(key)}`);
          await assert.rejects(store.get(key), invalid, `get ${JSON.stringify(key)}`);
          await assert.rejects(store.head(key), invalid, `head ${JSON.stringify(key)}`);
          await assert.rejects(store.delete(key), invalid, `delete ${JSON.stringify(key)}`);
          assert.throws(() => store.locationOf(key), invalid, `locationOf ${JSON.stringify(key)}`);
        }
        await assert.rejects(listAll(store, '../'), InvalidKeyError);
        await assert.rejects(listAll(store, '/raw/'), InvalidKeyError);
        assert.deepEqual(await listAll(store, 'valid/prefix/'), []);
      });
    });

    describe(`raw zone on ${backend.name}`, () => {
      let opened: OpenedStore;
      let store: ObjectStore;
      let downloads: string;
      before(async () => {
        opened = await backend.open();
        store = opened.store;
        downloads = await mkdtemp(path.join(tmpdir(), 'tempolake-downloads-'));
      });
      after(async () => {
        await opened?.close();
        await rm(downloads, { recursive: true, force: true });
      });

      async function download(name: string, content: string): Promise<string> {
        const file = path.join(downloads, `${randomUUID()}-${name}`);
        await writeFile(file, content);
        return file;
      }

      it('names partitions by source, day and hour, and refuses bad ones', () => {
        assert.equal(rawDayPrefix('source_a', '2021-10-04'), 'raw/source_a/day=2021-10-04/');
        assert.equal(rawDayPrefix('source_d', '2021-10-04', 7), 'raw/source_d/day=2021-10-04/hour=07/');
        assert.equal(rawDayPrefix('source_d', '2024-02-29', 23), 'raw/source_d/day=2024-02-29/hour=23/');
        assert.equal(rawDayPrefix('source_c/current', '2024-02-29'), 'raw/source_c/current/day=2024-02-29/');
        for (const [source, day, hour] of [
          ['Source-A', '2021-10-04', undefined],
          ['', '2021-10-04', undefined],
          ['source_c/', '2021-10-04', undefined],
          ['source_c/a/b', '2021-10-04', undefined],
          ['../source_c', '2021-10-04', undefined],
          ['source_a', '2021-02-30', undefined],
          ['source_a', '2021-2-3', undefined],
          ['source_a', '2021-10-04/x', undefined],
          ['source_d', '2021-10-04', 24],
          ['source_d', '2021-10-04', 1.5],
        ] as const) {
          assert.throws(() => rawDayPrefix(source, day, hour), InvalidRawFileError, `${source} ${day} ${hour}`);
        }
      });

      it('lands a file once with its sidecar; the same bytes again write nothing', async () => {
        const content = '{"user":1,"steps":42}\n{"user":2,"steps":7}\n';
        const first = await writeRawFile(store, {
          source: 'source_a',
          day: '2021-10-04',
          fileName: 'activity_2021-10-04.jsonl',
          content: { localPath: await download('activity_2021-10-04.jsonl', content) },
          origin: 'ftp://files.example/activity_2021-10-04.jsonl',
          fetchedAt: '2021-10-04T06:00:00.000Z',
        });
        const key = 'raw/source_a/day=2021-10-04/activity_2021-10-04.jsonl';
        const sha256 = createHash('sha256').update(content).digest('hex');
        const size = Buffer.byteLength(content);
        assert.deepEqual(first, {
          key,
          sha256,
          size,
          origin: 'ftp://files.example/activity_2021-10-04.jsonl',
          fetchedAt: '2021-10-04T06:00:00.000Z',
          created: true,
        });
        assert.equal(await readText(await store.get(key)), content);
        assert.deepEqual(JSON.parse(await readText(await store.get(`${key}.meta.json`))), {
          origin: 'ftp://files.example/activity_2021-10-04.jsonl',
          sha256,
          size,
          fetchedAt: '2021-10-04T06:00:00.000Z',
          fileName: 'activity_2021-10-04.jsonl',
        } satisfies RawSidecar);

        const before = await snapshot(store, 'raw/');
        const again = await writeRawFile(store, {
          source: 'source_a',
          day: '2021-10-04',
          fileName: 'activity_2021-10-04.jsonl',
          content: { localPath: await download('activity_2021-10-04.jsonl', content) },
          origin: 'http://mirror.example/activity_2021-10-04.jsonl',
          fetchedAt: '2021-10-05T06:00:00.000Z',
        });
        // The stored file's own record comes back, not the new attempt's.
        assert.deepEqual(again, { ...first, created: false });
        assert.deepEqual(await snapshot(store, 'raw/'), before, 'no object was added or rewritten');
      });

      it('keeps changed bytes under a checksum-suffixed name, leaving the first file as it was', async () => {
        const input = { source: 'source_b', day: '2021-10-04', fileName: 'users.csv.gz', origin: 'http://b.example/users.csv.gz' };
        const v1 = await writeRawFile(store, { ...input, content: { localPath: await download('v1', 'id,name\n1,ann\n') }, fetchedAt: '2021-10-04T01:00:00Z' });
        const v2 = await writeRawFile(store, { ...input, content: { localPath: await download('v2', 'id,name\n1,anne\n') }, fetchedAt: '2021-10-04T02:00:00Z' });
        assert.equal(v1.key, 'raw/source_b/day=2021-10-04/users.csv.gz');
        assert.equal(v2.key, `raw/source_b/day=2021-10-04/users.${v2.sha256.slice(0, 12)}.csv.gz`);
        assert.equal(v2.created, true);
        assert.notEqual(v2.sha256, v1.sha256);
        assert.equal(await readText(await store.get(v1.key)), 'id,name\n1,ann\n');
        assert.equal(await readText(await store.get(v2.key)), 'id,name\n1,anne\n');
        const v2Sidecar = JSON.parse(await readText(await store.get(`${v2.key}.meta.json`))) as RawSidecar;
        assert.equal(v2Sidecar.fileName, 'users.csv.gz', 'the sidecar keeps the delivered name');
        assert.equal(v2Sidecar.sha256, v2.sha256);
        assert.equal(v2Sidecar.fetchedAt, '2021-10-04T02:00:00Z');

        // The changed file delivered once more: already landed under its suffixed name.
        const before = await snapshot(store, 'raw/source_b/');
        const v2Again = await writeRawFile(store, { ...input, content: { localPath: await download('v2', 'id,name\n1,anne\n') }, fetchedAt: '2021-10-04T03:00:00Z' });
        assert.deepEqual(v2Again, { ...v2, created: false });
        assert.deepEqual(await snapshot(store, 'raw/source_b/'), before);

        const listed = await listRawFiles(store, 'source_b', '2021-10-04');
        assert.deepEqual(
          listed.map((f) => [f.key, f.sha256, f.fileName]),
          [v1, v2].sort((a, b) => (a.key < b.key ? -1 : 1)).map((f) => [f.key, f.sha256, 'users.csv.gz']),
        );
        assert.deepEqual(latestDeliveries(listed).map((f) => f.key), [v2.key]);
      });

      it('lists only landed data files of the partition, and a retry finishes a sidecar a crash left out', async () => {
        const day = '2021-10-06';
        const landed = await writeRawFile(store, {
          source: 'source_d',
          day,
          hour: 7,
          fileName: 'market+0+100.jsonl',
          content: { localPath: await download('m', '{"p":1}\n') },
          origin: 'kafka://market/0/100',
          fetchedAt: '2021-10-06T07:59:00Z',
        });
        assert.equal(landed.key, 'raw/source_d/day=2021-10-06/hour=07/market+0+100.jsonl');
        // A crash between the data and its sidecar: the data is there, the sidecar is not.
        const crashedKey = `${rawDayPrefix('source_d', day, 8)}market+0+200.jsonl`;
        await store.put(crashedKey, '{"p":2}\n');

        assert.deepEqual(
          (await listRawFiles(store, 'source_d', day, 7)).map((f) => f.key),
          [landed.key],
        );
        assert.deepEqual((await listRawFiles(store, 'source_d', day, 8)).map((f) => f.key), [], 'no sidecar, not landed');

        const retried = await writeRawFile(store, {
          source: 'source_d',
          day,
          hour: 8,
          fileName: 'market+0+200.jsonl',
          content: { localPath: await download('m2', '{"p":2}\n') },
          origin: 'kafka://market/0/200',
          fetchedAt: '2021-10-06T08:59:00Z',
        });
        assert.equal(retried.key, crashedKey);
        assert.equal(retried.created, false, 'the data was already there');
        const day6 = await listRawFiles(store, 'source_d', day);
        assert.deepEqual(
          day6.map((f) => ({ key: f.key, size: f.size, origin: f.origin })),
          [
            { key: landed.key, size: 8, origin: 'kafka://market/0/100' },
            { key: crashedKey, size: 8, origin: 'kafka://market/0/200' },
          ],
        );
        assert.deepEqual(await listRawFiles(store, 'source_d', '2021-10-07'), []);
      });

      it('concurrent writers of the same file: one creates it, all agree on the key', async () => {
        const content = 'same bytes from five workers\n';
        const results = await Promise.all(
          Array.from({ length: 5 }, async (_, i) =>
            writeRawFile(store, {
              source: 'source_a',
              day: '2021-10-08',
              fileName: 'activity_2021-10-08.jsonl',
              content: { localPath: await download(`w${i}`, content) },
              origin: `ftp://files.example/${i}`,
              fetchedAt: `2021-10-08T00:00:0${i}Z`,
            }),
          ),
        );
        assert.equal(results.filter((r) => r.created).length, 1);
        assert.equal(new Set(results.map((r) => r.key)).size, 1);
        assert.deepEqual(
          (await listAll(store, rawDayPrefix('source_a', '2021-10-08'))).map((o) => o.key),
          ['raw/source_a/day=2021-10-08/activity_2021-10-08.jsonl', 'raw/source_a/day=2021-10-08/activity_2021-10-08.jsonl.meta.json'],
        );
      });

      it('refuses file names that are paths or sidecars', async () => {
        const localPath = await download('x', 'x');
        for (const fileName of ['', '..', 'a/b.csv', 'x.meta.json']) {
          await assert.rejects(
            writeRawFile(store, { source: 'source_a', day: '2021-10-04', fileName, content: { localPath }, origin: 'o', fetchedAt: '2021-10-04T00:00:00Z' }),
            InvalidRawFileError,
            fileName,
          );
        }
      });
    });
  }

  describe('local store on disk', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'tempolake-store-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('keeps in-flight writes out of sight and leaves no temp files behind', async () => {
      const store = createObjectStore({ kind: 'local', root: path.join(dir, 'temp-files') });
      await store.put('a/b.txt', 'x');
      await store.putIfAbsent('a/b.txt', 'y');
      await assert.rejects(store.put('a/c.txt', failingStream(1024)), /source broke/);
      assert.deepEqual(await listAll(store, ''), [{ key: 'a/b.txt', size: 1 }]);
      assert.deepEqual(await readdir(path.join(dir, 'temp-files', '.tmp')), []);
      assert.equal(store.rootUri, `file://${dir}/temp-files`);
    });

    it('names the key when disk cannot hold a name as both an object and a folder', async () => {
      const store = createObjectStore({ kind: 'local', root: path.join(dir, 'conflicts') });
      await store.put('a/b', 'x');
      for (const key of ['a', 'a/b/c']) {
        const named = (e: unknown): boolean => e instanceof InvalidKeyError && e.message.includes(`"${key}"`);
        await assert.rejects(store.put(key, 'y'), named, `put ${key}`);
        await assert.rejects(store.putIfAbsent(key, 'y'), named, `putIfAbsent ${key}`);
      }
      assert.deepEqual(await listAll(store, ''), [{ key: 'a/b', size: 1 }]);
    });
  });
}

/** The listing, checked to name the same keys in the same order as listKeys (which skips the sizes). */
async function listAll(store: ObjectStore, prefix: string): Promise<{ key: string; size: number }[]> {
  const out: { key: string; size: number }[] = [];
  for await (const o of store.list(prefix)) out.push(o);
  const keys: string[] = [];
  for await (const k of store.listKeys(prefix)) keys.push(k);
  assert.deepEqual(keys, out.map((o) => o.key), `listKeys(${JSON.stringify(prefix)}) names what list names`);
  return out;
}

/** Every object under `prefix` with its bytes' hash and modification time: equal snapshots mean nothing was written. */
async function snapshot(store: ObjectStore, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const { key } of await listAll(store, prefix)) {
    const head = await store.head(key);
    const sha = createHash('sha256').update(await readBytes(await store.get(key))).digest('hex');
    out[key] = `${sha} ${head?.lastModified.toISOString()}`;
  }
  return out;
}

async function readBytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function readText(stream: Readable): Promise<string> {
  return (await readBytes(stream)).toString('utf8');
}

/** `size` bytes all equal to `fill`, in 64 KiB chunks, so racers' bodies interleave on the wire. */
function chunkedStream(size: number, fill: number): Readable {
  let left = size;
  return new Readable({
    read() {
      const n = Math.min(64 * 1024, left);
      left -= n;
      this.push(n > 0 ? Buffer.alloc(n, fill) : null);
    },
  });
}

function assertAllBytes(bytes: Buffer, size: number, fill: number): void {
  assert.equal(bytes.length, size);
  const stray = bytes.findIndex((b) => b !== fill);
  assert.equal(stray, -1, `byte ${stray} is ${bytes[stray]}, not the winner's ${fill}`);
}

/** Emits `failAfter` bytes, then errors: a download that broke mid-way. */
function failingStream(failAfter: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= failAfter) {
        this.destroy(new Error('source broke mid-way'));
        return;
      }
      const n = Math.min(64 * 1024, failAfter - sent);
      sent += n;
      this.push(randomBytes(n));
    },
  });
}

/** `size` random bytes made on demand in 64 KiB chunks (never held whole), hashed as they go out. */
function generatedStream(size: number, onChunk: () => void): { stream: Readable; sha256(): string } {
  const hash = createHash('sha256');
  let left = size;
  const stream = new Readable({
    read() {
      onChunk();
      if (left === 0) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(64 * 1024, left));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

function openStore(spec: StoreSpec, s3: S3Client): ObjectStore {
  return spec.kind === 'local'
    ? createObjectStore({ kind: 'local', root: spec.root })
    : createObjectStore({ kind: 's3', s3, bucket: loadConfig().s3Bucket, prefix: spec.prefix });
}

interface RssProbeResult {
  growthBytes: number;
  size: number;
  storedSize: number | undefined;
  sentSha256: string;
  readSha256: string;
}

/**
 * Runs streamBigBodyMeasuringRss in a fresh Node (this file, in probe mode). Fresh,
 * because in this process memory freed by earlier tests would absorb the growth
 * unseen; and with --expose-gc, so the baseline is taken after a full collection.
 */
async function measureInFreshProcess(spec: StoreSpec): Promise<RssProbeResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', fileURLToPath(import.meta.url)], {
    env: { ...process.env, [RSS_PROBE_ENV]: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, `RSS probe exited with ${code}`);
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as RssProbeResult;
}

/**
 * Peak RSS growth while a 64 MiB generated body goes up and comes back. Round trips of
 * a quarter of that size go first, as many as add up to the same bytes: they pay the
 * one-time costs (SDK code, connections, one part buffer) and bring V8's collection of
 * spent stream chunks to its steady state, which otherwise lags by tens of MiB. A store
 * that held whole bodies would still need 48 MiB more than any warm-up body did.
 */
async function streamBigBodyMeasuringRss(spec: StoreSpec): Promise<RssProbeResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the RSS probe needs node --expose-gc');
  const s3 = createS3Client(loadConfig());
  const store = openStore(spec, s3);
  try {
    for (let round = 0; round < 4; round++) {
      await store.put('big/warm-up.bin', generatedStream(BIG_BODY_BYTES / 4, () => undefined).stream);
      await drain(await store.get('big/warm-up.bin'), () => undefined);
    }
    await store.delete('big/warm-up.bin');

    gc();
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sample = (): void => {
      peak = Math.max(peak, process.memoryUsage.rss());
    };
    const timer = setInterval(sample, 5);
    const sent = generatedStream(BIG_BODY_BYTES, sample);
    try {
      // No contentLength: the unknown-length path, which is the one tempted to buffer.
      const { created } = await store.putIfAbsent('big/64mib.bin', sent.stream);
      assert.ok(created);
      const read = await drain(await store.get('big/64mib.bin'), sample);
      return {
        growthBytes: peak - baseline,
        size: read.size,
        storedSize: (await store.head('big/64mib.bin'))?.size,
        sentSha256: sent.sha256(),
        readSha256: read.sha256,
      };
    } finally {
      clearInterval(timer);
      await store.delete('big/64mib.bin');
    }
  } finally {
    s3.destroy();
  }
}

async function drain(stream: Readable, onChunk: () => void): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
    onChunk();
  }
  return { size, sha256: hash.digest('hex') };
}
