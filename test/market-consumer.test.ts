/**
 * Source D's consumer on the real Kafka broker and a MinIO lake: every record of the
 * topic lands in the raw zone exactly once (valid events in their event hour, malformed
 * ones in `_rejected/` with a reason), and offsets are committed up to the end — also
 * when the consumer is SIGKILLed between an upload and its commit, and when the broker
 * restarts under it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel, type Admin, type RetryOptions } from 'kafkajs';
import { createS3Client } from '../lib/clients/s3.ts';
import { loadConfig } from '../lib/config.ts';
import { kafkaService } from '../lib/infra/services/kafka.ts';
import { readSidecar } from '../lib/lake/raw.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import { eventHour, type MarketEvent, type MarketRawLine, type MarketRejectedLine } from '../lib/market/events.ts';
import { createMarketRawWriter, type MarketFlushedFile } from '../lib/market/raw-writer.ts';
import { ensureMarketTopic } from '../lib/market/topic.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PARTITIONS = 3;
// Long enough for the producer, consumer and admin to ride out a broker restart.
const RETRY: RetryOptions = { retries: 40, initialRetryTime: 200, maxRetryTime: 2_000 };

interface Produced {
  readonly key: string;
  readonly value: string | null;
  /** Kafka record timestamp (ms): when the poller would have sent it, so the event time for valid and malformed records alike. */
  readonly timestamp: string;
  /** event_id when the record is a valid event. */
  readonly id?: string;
}

/**
 * `n` records keyed by region, in event-time order over three UTC hours (recent ones:
 * the broker's retention would drop records stamped years ago), with every 97th a late
 * event of the first hour and every 13th malformed in one of several ways.
 */
function marketRecords(n: number, runId: string): Produced[] {
  const firstHour = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000;
  const malformed = [
    (): string => '{"event_id": "x", not json',
    (e: MarketEvent): string => JSON.stringify({ ...e, price: -1 }),
    (e: MarketEvent): string => JSON.stringify({ ...e, region: '' }),
    (e: MarketEvent): string => JSON.stringify({ ...e, ts: 'yesterday' }),
    (): string => '[1,2,3]',
    (): null => null,
  ];
  return Array.from({ length: n }, (_, i) => {
    const region = `r${String((i % 9) + 1).padStart(2, '0')}`;
    const at = i % 97 === 96 ? firstHour + (i % 3_600) * 1000 : firstHour + Math.floor((i * 3) / n) * 3_600_000 + (i % 3_000) * 1000;
    const event: MarketEvent = {
      event_id: `${runId}-${i}`,
      seq: i + 1,
      region,
      instrument: `power-${region}`,
      price: 40 + (i % 50),
      volume: 1 + (i % 7),
      ts: new Date(at).toISOString(),
      attributes: { venue: 'sim', side: i % 2 ? 'buy' : 'sell', tags: ['test'] },
    };
    const timestamp = String(at);
    if (i % 13 === 12) return { key: region, value: malformed[Math.floor(i / 13) % malformed.length]!(event), timestamp };
    return { key: region, value: JSON.stringify(event), timestamp, id: event.event_id };
  });
}

describe('source D consumer: Kafka topic → raw zone, exactly once', () => {
  let lake: TestLake;
  let s3: S3Client;
  let store: ObjectStore;
  let kafka: Kafka;
  let admin: Admin;
  const topics: string[] = [];
  const sockets = new Set<net.Socket>();

  before(async () => {
    lake = await startTestLake({ storage: 's3' });
    s3 = createS3Client(lake.config);
    store = createLakeStore(lake.config, s3);
    kafka = new Kafka({
      clientId: 'tempolake-market-test',
      brokers: [...lake.config.kafkaBrokers],
      connectionTimeout: 3000,
      retry: RETRY,
      logLevel: logLevel.NOTHING,
      socketFactory: ({ host, port, ssl, onConnect }) => {
        const socket = ssl ? tls.connect({ host, port, ...ssl }, onConnect) : net.connect({ host, port }, onConnect);
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        return socket;
      },
    });
    admin = kafka.admin();
    await admin.connect();
  });

  after(async () => {
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
    for await (const { key } of store.list('')) await store.delete(key);
    s3.destroy();
    await lake.stop();
    // kafkajs 2.2.4 leaves the connection to a group coordinator found before a broker restart
    // open after disconnect() (see cli/consume.ts); it would hold this process for 10 min.
    // Ending the socket (not destroying it) lets the broker's close reach kafkajs, which
    // then also clears that connection's request timers.
    for (const socket of sockets) socket.end();
    const deadline = Date.now() + 5_000;
    while (sockets.size > 0 && Date.now() < deadline) await sleep(50);
    for (const socket of sockets) socket.destroy();
  });

  /** A fresh topic of three partitions, created twice at once (one creates, one finds it). */
  async function newTopic(): Promise<{ topic: string; groupId: string }> {
    const topic = `market.test.${randomUUID().slice(0, 8)}`;
    topics.push(topic);
    const settings = { marketTopic: topic, marketTopicPartitions: PARTITIONS };
    const [a, b] = await Promise.all([ensureMarketTopic(kafka, settings), ensureMarketTopic(kafka, settings)]);
    assert.deepEqual([a.created, b.created].sort(), [false, true]);
    assert.equal(a.partitions, PARTITIONS);
    assert.equal(b.partitions, PARTITIONS);
    assert.equal((await ensureMarketTopic(kafka, settings)).created, false);
    return { topic, groupId: `tempolake-market-test-${randomUUID().slice(0, 8)}` };
  }

  /** Sends the records in chunks with a pause between them (a slow endpoint behind the producer). */
  async function produce(topic: string, records: readonly Produced[], chunk: number, pauseMs: number, progress = { sent: 0 }): Promise<void> {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: RETRY });
    await producer.connect();
    try {
      for (let i = 0; i < records.length; i += chunk) {
        await producer.send({ topic, messages: records.slice(i, i + chunk).map((r) => ({ key: r.key, value: r.value, timestamp: r.timestamp })) });
        progress.sent = Math.min(records.length, i + chunk);
        if (pauseMs > 0) await sleep(pauseMs);
      }
    } finally {
      await producer.disconnect();
    }
  }

  async function offsets(topic: string, groupId: string): Promise<{ end: Map<number, string>; committed: Map<number, string> }> {
    const [ends, groups] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
    return {
      end: new Map(ends.map((p) => [p.partition, p.high])),
      committed: new Map((groups[0]?.partitions ?? []).map((p) => [p.partition, p.offset])),
    };
  }

  /** Waits until the group has committed every partition up to its end offset. */
  async function caughtUp(topic: string, groupId: string, expectedTotal: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const { end, committed } = await offsets(topic, groupId);
        const total = [...end.values()].reduce((s, o) => s + Number(o), 0);
        last = `end ${JSON.stringify([...end])} committed ${JSON.stringify([...committed])}`;
        if (total === expectedTotal && [...end].every(([p, o]) => committed.get(p) === o)) return;
      } catch (err) {
        last = `admin: ${(err as Error).message}`;
      }
      if (Date.now() > deadline) assert.fail(`not caught up after ${timeoutMs} ms: ${last}`);
      await sleep(250);
    }
  }

  /**
   * Reads every raw file of the topic and checks the raw zone holds each record of the
   * topic exactly once, in the right folder, and the committed offsets are the end offsets.
   */
  async function assertExactlyOnce(topic: string, groupId: string, produced: readonly Produced[]): Promise<{ files: number; rejectedFiles: number }> {
    const seen = new Map<string, string>();
    const ids: string[] = [];
    const reasons: string[] = [];
    let files = 0;
    let rejectedFiles = 0;
    const name = /^raw\/source_d\/(_rejected\/)?day=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/(.+)\+(\d+)\+(\d{12})\.jsonl$/;
    const keys = new Set<string>();
    for await (const { key } of store.list('raw/source_d/')) keys.add(key);
    for (const key of keys) {
      // Every file has its sidecar, and a sidecar no file: leftovers are deleted with theirs.
      if (key.endsWith('.meta.json')) {
        assert.ok(keys.has(key.slice(0, -'.meta.json'.length)), `${key} describes no file`);
        continue;
      }
      const m = name.exec(key);
      assert.ok(m, `unexpected key ${key}`);
      const [, rejectedZone, day, hour, fileTopic, partitionText, start] = m as unknown as [string, string | undefined, string, string, string, string, string];
      if (fileTopic !== topic) continue;
      if (rejectedZone) rejectedFiles++;
      else files++;
      const body = await streamText(await store.get(key));
      const sidecar = await readSidecar(store, key);
      assert.ok(sidecar, `${key} has a sidecar`);
      assert.equal(sidecar.sha256, createHash('sha256').update(body).digest('hex'), `${key}: the sidecar's checksum is the file's`);
      assert.equal(sidecar.size, Buffer.byteLength(body), `${key}: size`);
      assert.equal(sidecar.origin, `kafka://${topic}/${Number(partitionText)}`, `${key}: origin`);
      assert.ok(body.endsWith('\n'), `${key} ends with a newline`);
      const lines = body.slice(0, -1).split('\n').map((l) => JSON.parse(l) as MarketRawLine & MarketRejectedLine);
      assert.equal(lines[0]?.offset, String(Number(start)), `${key} is named by its first offset`);
      let previous = -1;
      for (const line of lines) {
        assert.equal(line.partition, Number(partitionText), `${key}: partition`);
        assert.ok(Number(line.offset) > previous, `${key}: offsets ascend`);
        previous = Number(line.offset);
        const at = eventHour(rejectedZone ? Number(line.timestamp) : Date.parse(line.event.ts));
        assert.deepEqual([at.day, String(at.hour).padStart(2, '0')], [day, hour], `${key}: offset ${line.offset} is in its hour`);
        const coordinate = `${line.partition}:${line.offset}`;
        assert.equal(seen.get(coordinate), undefined, `(partition, offset) ${coordinate} is in ${seen.get(coordinate)} and again in ${key}`);
        seen.set(coordinate, key);
        if (rejectedZone) {
          assert.ok(line.reason.length > 0);
          reasons.push(line.reason);
        } else ids.push(line.event.event_id);
      }
      // The sidecar's offsets span the closed file, valid and rejected records together.
      assert.ok(Number(sidecar.context?.['firstOffset']) <= Number(start) && previous <= Number(sidecar.context?.['lastOffset']), `${key}: offsets within the sidecar's`);
    }
    const { end, committed } = await offsets(topic, groupId);
    for (const [partition, high] of end) {
      assert.equal(committed.get(partition), high, `partition ${partition} committed up to its end`);
      for (let o = 0; o < Number(high); o++) assert.ok(seen.has(`${partition}:${o}`), `(partition, offset) ${partition}:${o} is missing`);
    }
    const expectedIds = produced.flatMap((r) => (r.id ? [r.id] : []));
    assert.equal(seen.size, produced.length);
    assert.deepEqual(ids.sort(), expectedIds.sort());
    assert.equal(reasons.length, produced.length - expectedIds.length);
    for (const reason of ['not JSON', 'price is not a non-negative number: -1', 'missing region', 'ts is not a timestamp: "yesterday"', 'not a JSON object', 'record has no value']) {
      assert.ok(reasons.includes(reason), `a record rejected with "${reason}"`);
    }
    return { files, rejectedFiles };
  }

  it('lands every event once in its event hour, malformed ones in _rejected/, and commits to the end', async () => {
    const { topic, groupId } = await newTopic();
    const records = marketRecords(600, randomUUID().slice(0, 8));
    await produce(topic, records, 100, 0);
    const flushed: MarketFlushedFile[] = [];
    const writer = createMarketRawWriter({ kafka, store, topic, groupId, maxEvents: 50, maxMs: 800, onFlush: (f) => void flushed.push(f) });
    await writer.start();
    try {
      await caughtUp(topic, groupId, records.length, 30_000);
    } finally {
      await writer.stop();
    }
    await writer.done;
    const { files, rejectedFiles } = await assertExactlyOnce(topic, groupId, records);
    const stats = writer.stats();
    assert.equal(stats.records + stats.rejected, records.length);
    assert.equal(stats.files, flushed.length);
    assert.equal(files, flushed.filter((f) => f.key).length);
    assert.equal(rejectedFiles, flushed.filter((f) => f.rejectedKey).length);
    assert.ok(flushed.some((f) => f.reason === 'max-events') && flushed.some((f) => f.reason === 'hour-change'), 'files closed by size and by hour');
    assert.ok(flushed.every((f) => f.records + f.rejected <= 50));
    assert.equal(stats.staleDeleted, 0);
  });

  it('is exactly once after the consumer is SIGKILLed between uploads and commits', async () => {
    const { topic, groupId } = await newTopic();
    const records = marketRecords(900, randomUUID().slice(0, 8));
    const env = {
      ...process.env,
      LAKE_STORAGE: 's3',
      LAKE_S3_PREFIX: lake.config.lakeS3Prefix,
      MARKET_TOPIC: topic,
      MARKET_CONSUMER_GROUP: groupId,
      MARKET_FILE_MAX_MS: '600',
    };
    const producing = produce(topic, records, 15, 100);
    try {
      // First run: four commits go through, then every commit is lost while files keep
      // landing, and the process dies right after its 14th upload.
      const first = startChild(['--import', 'tsx', path.join(repoRoot, 'test/helpers/market-consumer-child.ts')], {
        ...env,
        MARKET_FILE_MAX_EVENTS: '20',
        MARKET_CHILD_FAIL_COMMITS_AFTER: '4',
        MARKET_CHILD_SIGKILL_AFTER_FILES: '14',
        MARKET_CHILD_SESSION_TIMEOUT: '6000',
      });
      const [code, signal] = (await once(first.process, 'exit')) as [number | null, NodeJS.Signals | null];
      assert.equal(signal, 'SIGKILL', `first consumer exited ${code}, not killed:\n${first.output()}`);
      const left = await offsets(topic, groupId);
      const behind = [...left.end].filter(([p, high]) => (left.committed.get(p) ?? '-1') !== high);
      assert.ok(behind.length > 0, 'the first run died before the end');

      // Second run: the real command, cutting files at other offsets (15 events, not 20).
      const second = startChild([path.join(repoRoot, 'bin/lake.js'), 'consume', 'market'], { ...env, MARKET_FILE_MAX_EVENTS: '15' });
      try {
        await producing;
        await caughtUp(topic, groupId, records.length, 60_000);
      } finally {
        second.process.kill('SIGTERM');
      }
      const [code2] = (await once(second.process, 'exit')) as [number | null];
      assert.equal(code2, 0, second.output());
      const replaced = [...second.output().matchAll(/replaced (\d+) leftover/g)].reduce((n, m) => n + Number(m[1]), 0);
      assert.ok(replaced > 0, `the second run deleted leftovers of the first inside its files:\n${second.output()}`);
      console.log(`# first run left ${behind.length} partition(s) behind; the second run replaced ${replaced} leftover file(s)`);
    } finally {
      await producing.catch(() => undefined);
    }
    await assertExactlyOnce(topic, groupId, records);
  });

  it('is exactly once while two writers share the group and partitions move between them', async () => {
    const { topic, groupId } = await newTopic();
    const records = marketRecords(900, randomUUID().slice(0, 8));
    const options = { kafka, store, topic, groupId, maxEvents: 25, maxMs: 400, sessionTimeout: 6_000 };
    const a = createMarketRawWriter(options);
    const b = createMarketRawWriter(options);
    let producing: Promise<void> = Promise.resolve();
    try {
      await a.start();
      // B joins while records flow, taking partitions from A; then A leaves and B takes them all.
      producing = produce(topic, records.slice(0, 300), 15, 30);
      await sleep(300);
      await b.start();
      await producing;
      await waitFor(() => a.stats().joins >= 2, 15_000, 'A rejoins when B comes');
      await produce(topic, records.slice(300, 600), 15, 30);
      await a.stop();
      producing = produce(topic, records.slice(600), 15, 30);
      await waitFor(() => b.stats().joins >= 2, 15_000, 'B rejoins when A leaves');
      await producing;
      await caughtUp(topic, groupId, records.length, 60_000);
    } finally {
      await producing.catch(() => undefined);
      await a.stop();
      await b.stop();
    }
    const [sa, sb] = [a.stats(), b.stats()];
    assert.ok(sa.files > 0 && sb.files > 0, `both wrote files (A ${sa.files}, B ${sb.files})`);
    assert.equal(sa.records + sa.rejected + sb.records + sb.rejected >= records.length, true);
    await assertExactlyOnce(topic, groupId, records);
  });

  it('is exactly once across a broker restart while the writer runs and the producer keeps sending', async () => {
    const { topic, groupId } = await newTopic();
    const records = marketRecords(900, randomUUID().slice(0, 8));
    const infra = { config: loadConfig(), progress: () => undefined };
    const writer = createMarketRawWriter({ kafka, store, topic, groupId, maxEvents: 40, maxMs: 500, retry: RETRY });
    await writer.start();
    const progress = { sent: 0 };
    const producing = produce(topic, records, 10, 40, progress);
    try {
      await sleep(1_500);
      const t0 = Date.now();
      assert.equal(await kafkaService.stop(infra), true, 'the test runner started Kafka');
      assert.ok(progress.sent > 0 && progress.sent < records.length, `the broker stops mid-stream (${progress.sent} of ${records.length} sent)`);
      await kafkaService.start(infra);
      const restartMs = Date.now() - t0;
      await producing;
      await caughtUp(topic, groupId, records.length, 60_000);
      assert.ok(writer.stats().joins >= 1);
      console.log(`# broker restart took ${(restartMs / 1000).toFixed(1)} s; writer: ${JSON.stringify({ ...writer.stats(), partitions: undefined })}`);
    } finally {
      // Whatever happened, leave the broker up for the tests after this one.
      await kafkaService.start(infra);
      await producing.catch(() => undefined);
      await writer.stop();
    }
    await assertExactlyOnce(topic, groupId, records);
  });
});

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(100);
  }
}

function startChild(args: string[], env: NodeJS.ProcessEnv): { process: ChildProcess; output(): string } {
  const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return { process: child, output: () => output };
}

async function streamText(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
