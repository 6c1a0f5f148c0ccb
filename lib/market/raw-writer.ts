/**
 * Source D's consumer: market events from the Kafka topic into the raw zone, each
 * record exactly once, following the Kafka Connect S3 sink's recipe.
 *
 * Files. Each partition has at most one open file at a time, for the UTC hour of its
 * records (the event's own `ts`; the Kafka record timestamp for a malformed record).
 * A file holds consecutive records of its partition; valid ones become `MarketRawLine`s
 * in `raw/source_d/day=D/hour=HH/`, malformed ones `MarketRejectedLine`s in the
 * parallel `raw/source_d/_rejected/…` folder, each object named
 * `<topic>+<partition>+<first offset in it>.jsonl`. A file closes at `maxEvents`
 * records, when the partition's next record belongs to another hour, or `maxMs` after
 * its first record arrived. Closing is a plain overwrite of the file, then of its sidecar
 * (`overwriteRawFile`: checksum, size, close time, topic, partition and offsets).
 *
 * Offsets. Auto-commit is off. After a file is written, and only then, the partition's
 * offset is committed as (last offset in the file) + 1. Files of a partition close in
 * offset order, so a commit covers exactly the records in durable files, and a failed
 * commit is made good by the next one (commits are cumulative).
 *
 * Why a record lands exactly once. The invariant, per partition, with C its committed
 * offset: every record below C is in exactly one file, and every file named by an offset
 * below C holds only records below C. Files named C or above are leftovers of a run that
 * died before committing (or whose commit failed), and may hold anything at or above C.
 *   - A run (a restart, or a new owner after a rebalance) fetches from C, so its files
 *     tile [C, …) with consecutive ranges [s, e], each in one hour.
 *   - Writing [s, e] overwrites the key named s. A record's hour and validity depend
 *     only on its bytes, so a leftover named t with s < t ≤ e was named by a record of
 *     this very file and sits under this file's hour folder, in the same zone: the writer
 *     lists that folder for `<topic>+<partition>+` and deletes every object named in
 *     [s, e] other than the keys it just wrote, and only then commits e + 1. So after the
 *     commit the invariant holds again for C' = e + 1.
 *   - Leftovers are needed because `maxMs` cuts by wall clock: a replay may cut
 *     [100, 180] where the dead run wrote [100, 140] and [141, 199]. Overwriting 100
 *     and deleting 141 removes the dead run's copy of 141-180; 181-199 are written
 *     again by the next file, which also covers any leftover named in its range.
 *   - A crash anywhere (before the put, between put and delete, between delete and
 *     commit) leaves C where it was and only leftovers named C or above, so the
 *     replay restores the invariant. When a run stops, C is the end of the topic and
 *     no leftover can remain.
 *   - Not covered: records that retention deleted between a crash and its replay are
 *     not fetched again, so a leftover named by one of them stays. Downstream
 *     compaction dedupes by (partition, offset) anyway.
 *
 * Rebalances. kafkajs rejoins the group only between batches, and after a rejoin it
 * fetches every assigned partition again from its committed offset. So when the group
 * is joined, all open files are dropped (their records come again), and the writer keeps
 * a generation: a file opened in an earlier generation, or after a rebalance began
 * (kafkajs' REBALANCING event) or the consumer crashed, is neither written nor
 * committed. Files that close inside `eachBatch` are finished before the rejoin can
 * happen, because the rejoin waits for the batch. The one exposure left is the `maxMs`
 * close of an idle partition, done from a timer: a put already in flight when a
 * rebalance begins is not awaited by the rejoin, and if it outlasts the whole rebalance
 * plus the new owner's first file it can overwrite that file (the same key). That is a
 * writer that loses its partition mid-upload, the window every S3 sink has (S3 has no
 * fenced write); with one consumer process, the deployment here, it cannot happen.
 *
 * Memory holds the open files only: one per assigned partition, at most `maxEvents`
 * lines each, plus what kafkajs has fetched.
 */
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, RetryOptions } from 'kafkajs';
import { deleteRawFile, overwriteRawFile, rawDayPrefix } from '../lake/raw.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { isDay } from '../time/days.ts';
import { checkMarketEvent, eventHour, MARKET_SOURCE, marketRawFileName, type MarketRawLine, type MarketRejectedLine } from './events.ts';

/** The raw-zone folder (under `raw/`) of source D's malformed records. */
export const MARKET_REJECTED_SOURCE = `${MARKET_SOURCE}/_rejected`;

/** Why a file was closed. */
export type MarketFileCloseReason = 'max-events' | 'hour-change' | 'max-ms' | 'stop';

/** One closed file, durable in the store (its offsets are committed right after `onFlush`). */
export interface MarketFlushedFile {
  readonly partition: number;
  readonly day: string;
  readonly hour: number;
  /** First and last Kafka offset the file covers (valid and rejected records together). */
  readonly firstOffset: string;
  readonly lastOffset: string;
  /** Key of the valid events, when there were any. */
  readonly key?: string;
  readonly records: number;
  /** Key of the malformed records, when there were any. */
  readonly rejectedKey?: string;
  readonly rejected: number;
  /** Files of a run that died before committing, named inside this file's range, now deleted. */
  readonly staleDeleted: readonly string[];
  readonly reason: MarketFileCloseReason;
}

export interface MarketRawWriterOptions {
  readonly kafka: Kafka;
  readonly store: ObjectStore;
  readonly topic: string;
  readonly groupId: string;
  /** A file closes at this many records (valid and malformed together). */
  readonly maxEvents: number;
  /** A file closes this long after its first record arrived (wall clock, ms). */
  readonly maxMs: number;
  /** Called for every file once it is durable, before its offsets are committed. */
  readonly onFlush?: (file: MarketFlushedFile) => void | Promise<void>;
  /** Failures the writer recovers from by itself (a failed upload is fetched again, a failed commit is made good by the next one). */
  readonly onError?: (err: unknown, during: string) => void;
  /** kafkajs consumer session timeout, ms (default 30 000; a crashed member holds its partitions this long). */
  readonly sessionTimeout?: number;
  /** kafkajs retry policy of the consumer's requests; the default outlasts a broker restart. */
  readonly retry?: RetryOptions;
}

export interface MarketPartitionStats {
  readonly partition: number;
  /** The next offset this writer committed, if it committed any. */
  readonly committed?: string;
  /** The partition's end offset at the last batch fetched. */
  readonly highWatermark?: string;
  /** Records held in the open file. */
  readonly open: number;
  readonly openAgeMs?: number;
}

export interface MarketRawWriterStats {
  readonly files: number;
  readonly records: number;
  readonly rejected: number;
  readonly staleDeleted: number;
  readonly commitFailures: number;
  readonly writeFailures: number;
  /** Group joins seen (the first one included). */
  readonly joins: number;
  readonly partitions: readonly MarketPartitionStats[];
}

export interface MarketRawWriter {
  /** Joins the group and starts consuming; resolves once the group is joined. */
  start(): Promise<void>;
  /** Closes and commits the open files, then leaves the group and disconnects. */
  stop(): Promise<void>;
  stats(): MarketRawWriterStats;
  /** Resolves when stop() finished; rejects if the consumer died and kafkajs gave up restarting it. */
  readonly done: Promise<void>;
}

/** Outlasts a local broker restart (~5-15 s): about 80 s of attempts, at most 5 s apart. */
const DEFAULT_RETRY: RetryOptions = { retries: 25, initialRetryTime: 300, maxRetryTime: 5_000 };
// A store that keeps failing is retried no faster than this.
const MAX_WRITE_BACKOFF_MS = 5_000;

interface OpenFile {
  readonly partition: number;
  readonly day: string;
  readonly hour: number;
  readonly firstOffset: string;
  lastOffset: string;
  readonly openedAt: number;
  readonly valid: string[];
  validFirst?: string;
  readonly rejected: string[];
  rejectedFirst?: string;
}

/** What the writer may do between two group joins. */
interface Generation {
  readonly assigned: ReadonlySet<number>;
  readonly open: Map<number, OpenFile>;
  /** A rebalance began or the consumer crashed: nothing more is written or committed in this generation. */
  fenced: boolean;
}

interface Classified {
  readonly day: string;
  readonly hour: number;
  readonly valid: boolean;
  readonly line: string;
}

/** Builds the writer; nothing connects until start(). */
export function createMarketRawWriter(opts: MarketRawWriterOptions): MarketRawWriter {
  const { kafka, store, topic, groupId, maxEvents, maxMs } = opts;
  if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) throw new RangeError(`maxEvents must be a whole number ≥ 1, got ${maxEvents}`);
  if (!Number.isFinite(maxMs) || maxMs < 1) throw new RangeError(`maxMs must be ≥ 1 ms, got ${maxMs}`);
  const onError = opts.onError ?? (() => undefined);

  let consumer: Consumer | undefined;
  let generation: Generation = { assigned: new Set(), open: new Map(), fenced: true };
  let stopping = false;
  let disconnected = false;
  let timer: NodeJS.Timeout | undefined;
  let writeBackoffMs = 0;
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // Callers may never await `done`; a fatal crash must not become an unhandled rejection.
  done.catch(() => undefined);

  const counters = { files: 0, records: 0, rejected: 0, staleDeleted: 0, commitFailures: 0, writeFailures: 0, joins: 0 };
  const committed = new Map<number, string>();
  const highWatermarks = new Map<number, string>();

  // Batches, timer closes and stop() touch the open files one at a time.
  let tail: Promise<unknown> = Promise.resolve();
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };

  const usable = (gen: Generation): boolean => gen === generation && !gen.fenced;

  function classify(partition: number, message: KafkaMessage): Classified {
    const key = message.key ? message.key.toString('utf8') : null;
    const text = message.value?.toString('utf8');
    let checked = text === undefined ? ({ ok: false, reason: 'record has no value' } as const) : checkMarketEvent(text);
    if (checked.ok) {
      const at = eventHour(Date.parse(checked.event.ts));
      if (isDay(at.day)) {
        const line: MarketRawLine = { partition, offset: message.offset, timestamp: message.timestamp, key, event: checked.event };
        return { ...at, valid: true, line: JSON.stringify(line) };
      }
      checked = { ok: false, reason: `ts is outside years 0000-9999: ${JSON.stringify(checked.event.ts)}` };
    }
    const line: MarketRejectedLine = { partition, offset: message.offset, timestamp: message.timestamp, key, reason: checked.reason, value: text ?? '' };
    return { ...eventHour(Number(message.timestamp)), valid: false, line: JSON.stringify(line) };
  }

  /** Adds one record to its partition's open file, closing files as needed; false when the batch must stop. */
  async function append(gen: Generation, partition: number, message: KafkaMessage): Promise<boolean> {
    const c = classify(partition, message);
    let file = gen.open.get(partition);
    if (file && (file.day !== c.day || file.hour !== c.hour)) {
      if (!(await close(gen, file, 'hour-change'))) return false;
      file = undefined;
    }
    if (!file) {
      file = { partition, day: c.day, hour: c.hour, firstOffset: message.offset, lastOffset: message.offset, openedAt: Date.now(), valid: [], rejected: [] };
      gen.open.set(partition, file);
    }
    file.lastOffset = message.offset;
    if (c.valid) {
      file.validFirst ??= message.offset;
      file.valid.push(c.line);
    } else {
      file.rejectedFirst ??= message.offset;
      file.rejected.push(c.line);
    }
    if (file.valid.length + file.rejected.length >= maxEvents) return close(gen, file, 'max-events');
    return true;
  }

  /**
   * Writes the file, removes leftovers named inside its range, commits. False when the
   * file was dropped (stale generation) or could not be written; then its records, and
   * every later one of the partition, are fetched again.
   */
  async function close(gen: Generation, file: OpenFile, reason: MarketFileCloseReason): Promise<boolean> {
    if (gen.open.get(file.partition) === file) gen.open.delete(file.partition);
    if (!usable(gen)) return false;
    let flushed: MarketFlushedFile;
    try {
      flushed = await writeFile(file, reason);
      writeBackoffMs = 0;
    } catch (err) {
      counters.writeFailures++;
      onError(err, `writing ${topic}+${file.partition}+${file.firstOffset}`);
      writeBackoffMs = Math.min(MAX_WRITE_BACKOFF_MS, Math.max(250, writeBackoffMs * 2));
      await new Promise((r) => setTimeout(r, writeBackoffMs));
      rewind(gen, file.partition, file.firstOffset);
      return false;
    }
    counters.files++;
    counters.records += flushed.records;
    counters.rejected += flushed.rejected;
    counters.staleDeleted += flushed.staleDeleted.length;
    if (opts.onFlush) {
      try {
        await opts.onFlush(flushed);
      } catch (err) {
        onError(err, 'onFlush');
      }
    }
    // A generation that ended during the upload no longer owns the offset: the next
    // owner fetches from the committed offset and overwrites this same key.
    if (!usable(gen) || !consumer) return false;
    const next = (BigInt(file.lastOffset) + 1n).toString();
    try {
      await consumer.commitOffsets([{ topic, partition: file.partition, offset: next }]);
      committed.set(file.partition, next);
    } catch (err) {
      // The file is durable; the next commit of this partition covers it, and a replay overwrites it.
      counters.commitFailures++;
      onError(err, `committing ${topic}+${file.partition} at ${next}`);
    }
    return true;
  }

  async function writeFile(file: OpenFile, reason: MarketFileCloseReason): Promise<MarketFlushedFile> {
    const validPrefix = rawDayPrefix(MARKET_SOURCE, file.day, file.hour);
    const rejectedPrefix = rawDayPrefix(MARKET_REJECTED_SOURCE, file.day, file.hour);
    const key = file.validFirst === undefined ? undefined : validPrefix + marketRawFileName(topic, file.partition, file.validFirst);
    const rejectedKey = file.rejectedFirst === undefined ? undefined : rejectedPrefix + marketRawFileName(topic, file.partition, file.rejectedFirst);
    const meta = {
      origin: `kafka://${topic}/${file.partition}`,
      fetchedAt: new Date().toISOString(),
      context: { topic, partition: file.partition, firstOffset: file.firstOffset, lastOffset: file.lastOffset },
    };
    if (key) await overwriteRawFile(store, key, file.valid.join('\n') + '\n', meta);
    if (rejectedKey) await overwriteRawFile(store, rejectedKey, file.rejected.join('\n') + '\n', meta);

    const first = BigInt(file.firstOffset);
    const last = BigInt(file.lastOffset);
    const stale: string[] = [];
    for (const prefix of [validPrefix, rejectedPrefix]) {
      const namePrefix = `${prefix}${topic}+${file.partition}+`;
      for await (const object of store.list(namePrefix)) {
        const m = /^(\d+)\.jsonl$/.exec(object.key.slice(namePrefix.length));
        if (!m || object.key === key || object.key === rejectedKey) continue;
        const start = BigInt(m[1] as string);
        if (start >= first && start <= last) stale.push(object.key);
      }
    }
    for (const k of stale) await deleteRawFile(store, k);
    return {
      partition: file.partition,
      day: file.day,
      hour: file.hour,
      firstOffset: file.firstOffset,
      lastOffset: file.lastOffset,
      ...(key ? { key } : {}),
      records: file.valid.length,
      ...(rejectedKey ? { rejectedKey } : {}),
      rejected: file.rejected.length,
      staleDeleted: stale,
      reason,
    };
  }

  /** Makes kafkajs fetch the partition again from `offset` (records no longer held in memory). */
  function rewind(gen: Generation, partition: number, offset: string): void {
    if (!usable(gen) || !consumer) return;
    gen.open.delete(partition);
    try {
      consumer.seek({ topic, partition, offset });
    } catch (err) {
      // Not running any more: a restart fetches from the committed offset anyway.
      onError(err, `rewinding ${topic}+${partition} to ${offset}`);
    }
  }

  async function closeExpired(gen: Generation): Promise<void> {
    const now = Date.now();
    for (const file of [...gen.open.values()]) {
      if (now - file.openedAt >= maxMs) await close(gen, file, 'max-ms');
    }
  }

  async function eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    await serially(async () => {
      const gen = generation;
      const { partition } = batch;
      highWatermarks.set(partition, batch.highWatermark);
      if (!gen.assigned.has(partition)) return;
      for (const message of batch.messages) {
        if (stopping || !usable(gen) || !isRunning() || isStale()) break;
        if (!(await append(gen, partition, message))) break;
        // Only moves kafkajs' fetch position (auto-commit is off): the commit follows the upload.
        resolveOffset(message.offset);
        // Throttled by kafkajs to its heartbeat interval; throws when the group rebalances.
        await heartbeat();
      }
      if (!stopping) await closeExpired(gen);
    });
  }

  return {
    async start() {
      if (consumer) throw new Error('market raw writer already started');
      const c = kafka.consumer({
        groupId,
        sessionTimeout: opts.sessionTimeout ?? 30_000,
        retry: {
          ...(opts.retry ?? DEFAULT_RETRY),
          // kafkajs restarts a crashed consumer on a timer, also when the crash came from
          // disconnect() racing a rejoin: a stopped writer must stay stopped.
          restartOnFailure: async (err) => !stopping && (opts.retry?.restartOnFailure ? opts.retry.restartOnFailure(err) : true),
        },
        // The topic is created on purpose (ensureMarketTopic), never by a typo.
        allowAutoTopicCreation: false,
      });
      consumer = c;
      c.on(c.events.GROUP_JOIN, (e) => {
        if (disconnected) {
          // A rejoin that was under way when stop() disconnected finished anyway: leave again.
          c.disconnect().catch((err) => onError(err, 'disconnecting after a late rejoin'));
          return;
        }
        counters.joins++;
        // kafkajs fetches every assigned partition again from its committed offset: drop what is open.
        generation = { assigned: new Set(e.payload.memberAssignment[topic] ?? []), open: new Map(), fenced: false };
      });
      c.on(c.events.REBALANCING, () => {
        generation.fenced = true;
      });
      c.on(c.events.CRASH, (e) => {
        generation.fenced = true;
        onError(e.payload.error, e.payload.restart ? 'consuming (kafkajs restarts the consumer)' : 'consuming (fatal)');
        if (!e.payload.restart && !stopping) {
          stopping = true;
          if (timer) clearInterval(timer);
          settle.reject(e.payload.error);
        }
      });
      await c.connect();
      await c.subscribe({ topics: [topic], fromBeginning: true });
      await c.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch });
      const tickMs = Math.max(50, Math.min(1_000, Math.floor(maxMs / 4)));
      timer = setInterval(() => {
        if (stopping) return;
        const gen = generation;
        if (!usable(gen) || gen.open.size === 0) return;
        serially(() => closeExpired(gen)).catch((err) => onError(err, 'closing files on time'));
      }, tickMs);
    },

    async stop() {
      if (!consumer) return;
      const wasStopping = stopping;
      stopping = true;
      if (timer) clearInterval(timer);
      try {
        if (!wasStopping) {
          // Before consumer.stop(): kafkajs silently skips commits of a stopped consumer.
          await serially(async () => {
            const gen = generation;
            for (const file of [...gen.open.values()]) await close(gen, file, 'stop');
          });
        }
        await consumer.disconnect();
        disconnected = true;
        settle.resolve();
      } catch (err) {
        settle.reject(err);
        throw err;
      }
    },

    stats() {
      const now = Date.now();
      const partitions = [...new Set([...generation.assigned, ...committed.keys(), ...highWatermarks.keys()])].sort((a, b) => a - b);
      return {
        ...counters,
        partitions: partitions.map((partition) => {
          const file = generation.open.get(partition);
          return {
            partition,
            ...(committed.has(partition) ? { committed: committed.get(partition) } : {}),
            ...(highWatermarks.has(partition) ? { highWatermark: highWatermarks.get(partition) } : {}),
            open: file ? file.valid.length + file.rejected.length : 0,
            ...(file ? { openAgeMs: now - file.openedAt } : {}),
          };
        }),
      };
    },

    done,
  };
}
