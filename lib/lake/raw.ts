/**
 * The raw zone: files exactly as a source delivered them, under
 * `raw/<source>/day=YYYY-MM-DD[/hour=HH]/`, each with a `<file>.meta.json` sidecar
 * (origin, sha256, size, fetched-at). Raw is created once and never rewritten: a
 * re-delivery of the same bytes is a no-op, and changed bytes under a known name are
 * kept next to the first ones under a checksum-suffixed name. The exception is source D's
 * consumer, whose replay rewrites its own keys (overwriteRawFile).
 *
 * The sidecar is written after the data and is what marks a file as landed: a data
 * object without one is a write still in flight, or one that crashed and whose retry
 * will finish it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ObjectNotFoundError, type ObjectStore } from '../storage/object-store.ts';
import { isDay } from '../time/days.ts';

/** What a sidecar records about one raw file. */
export interface RawSidecar {
  /** Where the bytes came from (credentials redacted by the caller). */
  origin: string;
  sha256: string;
  size: number;
  /** ISO 8601 time the download started. */
  fetchedAt: string;
  /** The name the source delivered it under; a changed re-delivery is stored under another key but keeps this. */
  fileName: string;
  /** What the request asked for, when the bytes do not say (e.g. the region ids of a multi-location API answer, in order). */
  context?: Record<string, unknown>;
}

/** One landed raw file: its key and what its sidecar says. */
export interface StoredRawFile extends RawSidecar {
  key: string;
}

/** What writeRawFile did: the key holding these bytes, and whether this call created it. */
export interface RawFile {
  key: string;
  sha256: string;
  size: number;
  origin: string;
  fetchedAt: string;
  created: boolean;
}

export interface RawFileInput {
  source: string;
  /** Partition day, YYYY-MM-DD. */
  day: string;
  /** Partition hour (0-23), for sources partitioned by hour. */
  hour?: number;
  fileName: string;
  /** The bytes: an already-downloaded file (read, never moved or removed) or an API answer in memory. */
  content: { localPath: string } | { bytes: Buffer };
  origin: string;
  fetchedAt: string;
  context?: Record<string, unknown>;
}

/** Bad partition coordinates or file name: retrying cannot fix it. */
export class InvalidRawFileError extends Error {
  override name = 'InvalidRawFileError';
}

/** The raw zone disagrees with itself (a sidecar that is not JSON, or names other bytes). */
export class RawIntegrityError extends Error {
  override name = 'RawIntegrityError';
}

const SIDECAR_SUFFIX = '.meta.json';
// A compression suffix stays with the extension before it, so `*.csv.gz` still matches a suffixed copy.
const COMPRESSION_EXTENSIONS = new Set(['.gz', '.bz2', '.xz', '.zst', '.lz4', '.snappy']);
const SUFFIX_HEX_CHARS = 12;
// Sidecars are a few hundred bytes; this only stops a corrupt one from filling memory.
const MAX_SIDECAR_BYTES = 64 * 1024;

/**
 * `raw/<source>/day=YYYY-MM-DD/`, or `…/hour=HH/` when `hour` is given; a source may name a
 * dataset of its own (`source_c/current`). Throws InvalidRawFileError on bad input.
 */
export function rawDayPrefix(source: string, day: string, hour?: number): string {
  if (!/^[a-z0-9_]+(\/[a-z0-9_]+)?$/.test(source)) throw new InvalidRawFileError(`source must match [a-z0-9_]+ or <source>/<dataset>, got ${JSON.stringify(source)}`);
  if (!isDay(day)) throw new InvalidRawFileError(`day must be a calendar date YYYY-MM-DD, got ${JSON.stringify(day)}`);
  const dayPrefix = `raw/${source}/day=${day}/`;
  if (hour === undefined) return dayPrefix;
  if (!Number.isInteger(hour) || hour < 0 || hour > 23) throw new InvalidRawFileError(`hour must be an integer 0-23, got ${hour}`);
  return `${dayPrefix}hour=${String(hour).padStart(2, '0')}/`;
}

/**
 * Lands a downloaded file in the raw zone, once. Same bytes already there (under the
 * name or under its checksum-suffixed name): nothing is written and `created` is false.
 * Different bytes under the name: they go to `<stem>.<sha256[:12]><ext>` with their own
 * sidecar. Safe to retry after a crash at any point, and safe to race.
 */
export async function writeRawFile(store: ObjectStore, input: RawFileInput): Promise<RawFile> {
  const prefix = rawDayPrefix(input.source, input.day, input.hour);
  assertFileName(input.fileName);
  if (input.origin === '') throw new InvalidRawFileError('origin must not be empty');
  if (Number.isNaN(Date.parse(input.fetchedAt))) {
    throw new InvalidRawFileError(`fetchedAt must be an ISO 8601 time, got ${JSON.stringify(input.fetchedAt)}`);
  }
  const open = (): Readable => ('localPath' in input.content ? createReadStream(input.content.localPath) : Readable.from([input.content.bytes]));
  const { sha256, size } = await digest(open());
  const sidecar: RawSidecar = {
    origin: input.origin,
    sha256,
    size,
    fetchedAt: input.fetchedAt,
    fileName: input.fileName,
    ...(input.context ? { context: input.context } : {}),
  };

  const primary = await landAt(store, prefix + input.fileName, open, sidecar);
  if (primary.kind !== 'other-bytes') return primary.file;
  const suffixed = await landAt(store, prefix + suffixedName(input.fileName, sha256), open, sidecar);
  if (suffixed.kind !== 'other-bytes') return suffixed.file;
  throw new RawIntegrityError(
    `${prefix}${suffixedName(input.fileName, sha256)} holds bytes with sha256 ${suffixed.sha256}, not ${sha256} (a ${SUFFIX_HEX_CHARS}-hex prefix collision)`,
  );
}

/**
 * Writes `key` and its sidecar, replacing what is there: for a writer whose replay must
 * rewrite the same key (source D's consumer, the Kafka Connect S3 sink's recipe), the one
 * exception to create-once. The sidecar is written after the bytes, as writeRawFile does.
 */
export async function overwriteRawFile(
  store: ObjectStore,
  key: string,
  bytes: string,
  meta: { origin: string; fetchedAt: string; context?: Record<string, unknown> },
): Promise<RawFile> {
  const body = Buffer.from(bytes);
  const sidecar: RawSidecar = {
    origin: meta.origin,
    sha256: createHash('sha256').update(body).digest('hex'),
    size: body.length,
    fetchedAt: meta.fetchedAt,
    fileName: key.slice(key.lastIndexOf('/') + 1),
    ...(meta.context ? { context: meta.context } : {}),
  };
  await store.put(key, body, { contentType: 'application/x-ndjson' });
  await store.put(key + SIDECAR_SUFFIX, JSON.stringify(sidecar, null, 2) + '\n', { contentType: 'application/json' });
  return rawFile(key, sidecar, true);
}

/** Deletes a raw file and its sidecar, the sidecar first: without it the file no longer counts as landed. */
export async function deleteRawFile(store: ObjectStore, key: string): Promise<void> {
  await store.delete(key + SIDECAR_SUFFIX);
  await store.delete(key);
}

/**
 * The landed data files of a partition, with their sidecars, in key order. Without
 * `hour` this includes the day's hour partitions. A data file whose sidecar is not
 * there yet has not landed, so it is left out.
 */
export async function listRawFiles(store: ObjectStore, source: string, day: string, hour?: number): Promise<StoredRawFile[]> {
  const keys = new Set<string>();
  for await (const { key } of store.list(rawDayPrefix(source, day, hour))) keys.add(key);
  const files: StoredRawFile[] = [];
  for (const key of keys) {
    if (key.endsWith(SIDECAR_SUFFIX) || !keys.has(key + SIDECAR_SUFFIX)) continue;
    const sidecar = await readSidecar(store, key);
    if (sidecar) files.push({ key, ...sidecar });
  }
  return files;
}

/**
 * Of several deliveries of one file name (the first and any changed re-deliveries),
 * the one fetched last; for consumers that want one version of each file.
 */
export function latestDeliveries(files: readonly StoredRawFile[]): StoredRawFile[] {
  const latest = new Map<string, StoredRawFile>();
  for (const file of files) {
    const seen = latest.get(file.fileName);
    if (!seen || Date.parse(file.fetchedAt) > Date.parse(seen.fetchedAt)) latest.set(file.fileName, file);
  }
  return files.filter((f) => latest.get(f.fileName) === f);
}

type Landing = { kind: 'landed'; file: RawFile } | { kind: 'other-bytes'; sha256: string };

/** Creates `key` and its sidecar unless `key` already holds these bytes (then only finishes a missing sidecar). */
async function landAt(store: ObjectStore, key: string, open: () => Readable, sidecar: RawSidecar): Promise<Landing> {
  // Checked first so a re-run does not upload the file again just to be refused.
  let created = false;
  if ((await store.head(key)) === undefined) {
    ({ created } = await store.putIfAbsent(key, open(), { contentLength: sidecar.size }));
  }
  if (!created) {
    const existing = await readSidecar(store, key);
    if (existing) {
      if (existing.sha256 !== sidecar.sha256) return { kind: 'other-bytes', sha256: existing.sha256 };
      return { kind: 'landed', file: rawFile(key, existing, false) };
    }
    // Data without a sidecar: a crashed write (or a racer not done yet). The bytes decide.
    const stored = (await digest(await store.get(key))).sha256;
    if (stored !== sidecar.sha256) return { kind: 'other-bytes', sha256: stored };
  }
  const written = await store.putIfAbsent(key + SIDECAR_SUFFIX, JSON.stringify(sidecar, null, 2) + '\n', {
    contentType: 'application/json',
  });
  const kept = written.created ? sidecar : await readSidecar(store, key);
  if (!kept || kept.sha256 !== sidecar.sha256) {
    throw new RawIntegrityError(`sidecar of ${key} does not describe the bytes stored there`);
  }
  return { kind: 'landed', file: rawFile(key, kept, created) };
}

function rawFile(key: string, sidecar: RawSidecar, created: boolean): RawFile {
  return { key, sha256: sidecar.sha256, size: sidecar.size, origin: sidecar.origin, fetchedAt: sidecar.fetchedAt, created };
}

/** The sidecar of the data file `key`, or undefined when there is none yet. */
export async function readSidecar(store: ObjectStore, key: string): Promise<RawSidecar | undefined> {
  const sidecarKey = key + SIDECAR_SUFFIX;
  let stream: Readable;
  try {
    stream = await store.get(sidecarKey);
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  }
  const text = await readText(stream, sidecarKey);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RawIntegrityError(`${sidecarKey} is not JSON`);
  }
  return parseSidecar(parsed, sidecarKey);
}

function parseSidecar(value: unknown, where: string): RawSidecar {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const { origin, sha256, size, fetchedAt, fileName, context } = v;
  if (
    typeof origin !== 'string' ||
    typeof sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(sha256) ||
    typeof size !== 'number' ||
    !Number.isSafeInteger(size) ||
    typeof fetchedAt !== 'string' ||
    typeof fileName !== 'string' ||
    (context !== undefined && (typeof context !== 'object' || context === null || Array.isArray(context)))
  ) {
    throw new RawIntegrityError(`${where} lacks one of origin, sha256, size, fetchedAt, fileName`);
  }
  return { origin, sha256, size, fetchedAt, fileName, ...(context ? { context: context as Record<string, unknown> } : {}) };
}

async function digest(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(stream, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      hash.update(chunk);
      size += chunk.length;
    }
  });
  return { sha256: hash.digest('hex'), size };
}

async function readText(stream: Readable, where: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SIDECAR_BYTES) {
      throw new RawIntegrityError(`${where} is over ${MAX_SIDECAR_BYTES} bytes; not a sidecar`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `activity_2021-10-04.jsonl` → `activity_2021-10-04.3fa9c0e1b2d4.jsonl`; `a.csv.gz` → `a.<hex>.csv.gz`. */
function suffixedName(fileName: string, sha256: string): string {
  const { stem, ext } = splitExtension(fileName);
  return `${stem}.${sha256.slice(0, SUFFIX_HEX_CHARS)}${ext}`;
}

function splitExtension(fileName: string): { stem: string; ext: string } {
  const lastDot = fileName.lastIndexOf('.');
  if (lastDot <= 0) return { stem: fileName, ext: '' };
  let cut = lastDot;
  if (COMPRESSION_EXTENSIONS.has(fileName.slice(lastDot).toLowerCase())) {
    const innerDot = fileName.lastIndexOf('.', lastDot - 1);
    if (innerDot > 0) cut = innerDot;
  }
  return { stem: fileName.slice(0, cut), ext: fileName.slice(cut) };
}

function assertFileName(fileName: string): void {
  const problem =
    fileName === '' || fileName === '.' || fileName === '..'
      ? 'it is empty or a dot name'
      : /[/\\\u0000-\u001f\u007f]/.test(fileName)
        ? 'it contains "/", "\\" or a control character'
        : fileName.endsWith(SIDECAR_SUFFIX)
          ? `"${SIDECAR_SUFFIX}" names are the raw zone's sidecars`
          : undefined;
  if (problem) throw new InvalidRawFileError(`invalid raw file name ${JSON.stringify(fileName)}: ${problem}`);
}

