/**
 * The one interface the lake writes through: a local folder (the embedded default) or
 * an S3 bucket (MinIO locally). Raw files are created once and never rewritten, so
 * the interface has a create-only write next to the ordinary overwrite.
 */
import type { Readable } from 'node:stream';

/** What every write accepts: a stream (never buffered whole), or bytes already in memory. */
export type ObjectBody = Readable | Buffer | string;

export interface PutOptions {
  contentType?: string;
  /** When given, a body of any other length fails the write and nothing is stored. */
  contentLength?: number;
}

export interface ObjectInfo {
  size: number;
  lastModified: Date;
}

export interface ObjectStore {
  readonly kind: 'local' | 's3';
  /** Root as a URI: file:///abs/dir or s3://bucket/prefix */
  readonly rootUri: string;
  /**
   * Creates the object only if `key` is absent; `{ created: false }` when it already
   * existed (its bytes are left as they were). Concurrent callers: exactly one wins.
   * A failed or partial write never becomes visible under `key`. When the key already
   * exists the body may be left unread, and a stream body is then destroyed.
   */
  putIfAbsent(key: string, body: ObjectBody, opts?: PutOptions): Promise<{ created: boolean }>;
  /** Creates or overwrites `key` (for what is not raw); readers see old or new bytes, never a mix. */
  put(key: string, body: ObjectBody, opts?: PutOptions): Promise<void>;
  /** The object's bytes as a stream; throws ObjectNotFoundError. */
  get(key: string): Promise<Readable>;
  /** Size and modification time, or undefined when there is no object at `key`. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix` (a plain string prefix, as in S3), in key order. */
  list(prefix: string): AsyncIterable<{ key: string; size: number }>;
  /** The keys `list` gives, without sizes (a local folder then skips a stat per file). */
  listKeys(prefix: string): AsyncIterable<string>;
  /** Removes the object; deleting a missing key is not an error (as in S3). */
  delete(key: string): Promise<void>;
  /** A location DuckDB can read directly: absolute local path for disk, s3://bucket/prefix/key for S3. */
  locationOf(key: string): string;
}

export class ObjectNotFoundError extends Error {
  override name = 'ObjectNotFoundError';
  constructor(readonly key: string) {
    super(`no object at key "${key}"`);
  }
}

export class InvalidKeyError extends Error {
  override name = 'InvalidKeyError';
}

/** A body that produced a different number of bytes than the `contentLength` promised. */
export class ContentLengthMismatchError extends Error {
  override name = 'ContentLengthMismatchError';
}

/**
 * The top-level folder the local store keeps in-flight writes in, so they are never
 * listed; reserved on every store so a key means the same thing on disk and on S3.
 */
export const RESERVED_TOP_SEGMENT = '.tmp';

// S3's own limit; every disk filesystem we run on allows longer paths.
const MAX_KEY_BYTES = 1024;

/** Throws InvalidKeyError unless `key` is a '/'-separated relative path with no '.', '..' or empty segment. */
export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  if (problem) throw new InvalidKeyError(`invalid object key ${JSON.stringify(key)}: ${problem}`);
}

/** Like assertValidKey, but a listing prefix may be empty, end with '/' or end mid-segment. */
export function assertValidPrefix(prefix: string): void {
  if (prefix === '') return;
  const problem = keyProblem(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  if (problem) throw new InvalidKeyError(`invalid listing prefix ${JSON.stringify(prefix)}: ${problem}`);
}

function keyProblem(key: string): string | undefined {
  if (key === '') return 'it is empty';
  if (key.startsWith('/')) return 'it starts with "/" (keys are relative)';
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `it is longer than ${MAX_KEY_BYTES} bytes`;
  if (/[\u0000-\u001f\u007f\\]/.test(key)) return 'it contains a control character or a backslash';
  const segments = key.split('/');
  if (segments.some((s) => s === '')) return 'it has an empty segment ("//" or a trailing "/")';
  if (segments.some((s) => s === '.' || s === '..')) return 'it has a "." or ".." segment';
  if (segments[0] === RESERVED_TOP_SEGMENT) return `"${RESERVED_TOP_SEGMENT}/" is reserved for in-flight writes`;
  return undefined;
}
