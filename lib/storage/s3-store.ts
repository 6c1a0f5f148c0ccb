/**
 * The object store on S3 (MinIO locally). Create-once is S3's conditional write,
 * `If-None-Match: *`: the loser of a race gets 412 and the winner's bytes stay whole.
 *
 * What the MinIO we run answers (probed against it, kept in test/storage.test.ts):
 * - PutObject with IfNoneMatch '*': 412 PreconditionFailed when the key exists; of 20
 *   concurrent racers exactly one succeeds.
 * - CompleteMultipartUpload with IfNoneMatch '*': the same 412 and the same single
 *   winner. The loser's upload stays pending, so it must be aborted.
 * - CopyObject with IfNoneMatch '*': accepted but IGNORED (the copy overwrites), so
 *   "upload to a temp key, then conditionally copy" would not be create-once here.
 * So a body that fits in one part is one conditional PutObject, and a bigger one is a
 * multipart upload whose Complete carries the condition. Either way nothing is visible
 * under the key until S3 commits the whole object.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import {
  assertValidKey,
  assertValidPrefix,
  ContentLengthMismatchError,
  ObjectNotFoundError,
  type ObjectBody,
  type ObjectStore,
  type PutOptions,
} from './object-store.ts';

const MIB = 1024 * 1024;
/** S3's limits: parts of 5 MiB (except the last) up to 5 GiB, at most 10,000 of them. */
const MIN_PART_SIZE = 5 * MIB;
const MAX_PART_SIZE = 5 * 1024 * MIB;
const MAX_PARTS = 10_000;
export const DEFAULT_PART_SIZE = 8 * MIB;
/** AWS answers 409 ConditionalRequestConflict when a conditional write overlaps another; retry is the documented answer. */
const CONFLICT_ATTEMPTS = 3;
/** Bodies up to this size are gathered as they arrive; past it, straight into one reused part buffer. */
const SMALL_BODY_BYTES = 1 * MIB;

export interface S3StoreOptions {
  s3: S3Client;
  bucket: string;
  /** Folder inside the bucket that is the store's root; '' or omitted for the whole bucket. */
  prefix?: string;
  /** Bytes per multipart part and the largest body sent as one PutObject; memory per write stays near this. */
  partSize?: number;
}

/** An object store over `s3://bucket/prefix`; the client is the caller's (it is not destroyed here). */
export function createS3Store({ s3, bucket, prefix = '', partSize = DEFAULT_PART_SIZE }: S3StoreOptions): ObjectStore {
  const root = prefix.replace(/^\/+|\/+$/g, '');
  if (root !== '') assertValidKey(root);
  if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw new RangeError(`partSize must be an integer from ${MIN_PART_SIZE} to ${MAX_PART_SIZE} bytes, got ${partSize}`);
  }
  const base = root === '' ? '' : `${root}/`;

  function objectKey(key: string): string {
    assertValidKey(key);
    return base + key;
  }

  async function putBytes(Key: string, bytes: Buffer, opts: PutOptions | undefined, ifAbsent: boolean): Promise<boolean> {
    return retryOnConflict(async () => {
      try {
        await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key,
            Body: bytes,
            ContentLength: bytes.length,
            ContentType: opts?.contentType,
            IfNoneMatch: ifAbsent ? '*' : undefined,
          }),
        );
        return true;
      } catch (err) {
        if (ifAbsent && httpStatus(err) === 412) return false;
        throw err;
      }
    });
  }

  async function exists(Key: string): Promise<boolean> {
    try {
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key }));
      return true;
    } catch (err) {
      if (httpStatus(err) === 404) return false;
      throw err;
    }
  }

  /**
   * Reads the stream one part at a time, so memory stays near one part whatever the
   * body's size. Parts go up one after another: the source is paused while a part is
   * in flight, which is what keeps the bound.
   */
  async function putStream(Key: string, body: Readable, opts: PutOptions | undefined, ifAbsent: boolean): Promise<boolean> {
    const size = opts?.contentLength === undefined ? partSize : Math.max(partSize, Math.ceil(opts.contentLength / MAX_PARTS));
    const parts = partsOf(body, size);
    let UploadId: string | undefined;
    let committed = false;
    try {
      const first = await parts.next();
      if (first.done) throw new Error('unreachable: partsOf always yields at least one part');
      if (first.value.whole) {
        checkLength(first.value.bytes.length, opts);
        return await putBytes(Key, first.value.bytes, opts, ifAbsent);
      }
      // Don't upload gigabytes only to be told 412; the conditional Complete still decides a race.
      if (ifAbsent && (await exists(Key))) return false;

      ({ UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key, ContentType: opts?.contentType })));
      const uploaded: CompletedPart[] = [];
      let total = 0;
      for (let step: IteratorResult<Part> = first; !step.done; step = await parts.next()) {
        const PartNumber = uploaded.length + 1;
        if (PartNumber > MAX_PARTS) {
          throw new RangeError(`body is over ${MAX_PARTS} parts of ${size} bytes; pass contentLength so the part size can grow`);
        }
        const { bytes } = step.value;
        const { ETag } = await s3.send(
          new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber, Body: bytes, ContentLength: bytes.length }),
        );
        uploaded.push({ PartNumber, ETag });
        total += bytes.length;
      }
      checkLength(total, opts);
      committed = await retryOnConflict(async () => {
        try {
          await s3.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key,
              UploadId,
              MultipartUpload: { Parts: uploaded },
              IfNoneMatch: ifAbsent ? '*' : undefined,
            }),
          );
          return true;
        } catch (err) {
          if (ifAbsent && httpStatus(err) === 412) return false;
          throw err;
        }
      });
      return committed;
    } finally {
      // Stops reading (and destroys) a body we did not finish with.
      await parts.return(undefined);
      if (UploadId !== undefined && !committed) {
        // Best effort: what is left is invisible, and an AbortIncompleteMultipartUpload
        // lifecycle rule (MinIO: its stale-upload expiry) removes it.
        await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId })).catch(() => undefined);
      }
    }
  }

  async function write(key: string, body: ObjectBody, opts: PutOptions | undefined, ifAbsent: boolean): Promise<boolean> {
    const Key = objectKey(key);
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      checkLength(bytes.length, opts);
      return putBytes(Key, bytes, opts, ifAbsent);
    }
    return putStream(Key, body, opts, ifAbsent);
  }

  return {
    kind: 's3',
    rootUri: `s3://${bucket}${root === '' ? '' : `/${root}`}`,

    async putIfAbsent(key, body, opts) {
      return { created: await write(key, body, opts, true) };
    },

    async put(key, body, opts) {
      await write(key, body, opts, false);
    },

    async get(key) {
      try {
        const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
        if (!(res.Body instanceof Readable)) throw new Error(`GetObject ${key}: expected a Node stream body`);
        return res.Body;
      } catch (err) {
        // By name: a missing bucket is a 404 too, and that is not "no such object".
        if ((err as Error).name === 'NoSuchKey') throw new ObjectNotFoundError(key);
        throw err;
      }
    },

    async head(key) {
      try {
        const res = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
        return { size: res.ContentLength ?? 0, lastModified: res.LastModified ?? new Date(0) };
      } catch (err) {
        if (httpStatus(err) === 404) return undefined;
        throw err;
      }
    },

    async *listKeys(listPrefix) {
      // A listing page carries the sizes anyway.
      for await (const { key } of this.list(listPrefix)) yield key;
    },

    async *list(listPrefix) {
      assertValidPrefix(listPrefix);
      let ContinuationToken: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: base + listPrefix, ContinuationToken }),
        );
        for (const object of page.Contents ?? []) {
          if (object.Key === undefined) continue;
          yield { key: object.Key.slice(base.length), size: object.Size ?? 0 };
        }
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken !== undefined);
    },

    async delete(key) {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
    },

    locationOf(key) {
      return `s3://${bucket}/${objectKey(key)}`;
    },
  };
}

interface Part {
  bytes: Buffer;
  /** The body ended before filling one part: this is all of it. */
  whole: boolean;
}

/**
 * The body cut into parts of exactly `size` bytes (the last may be shorter). A body
 * that ends before filling one part comes as a single part marked `whole`. Full parts
 * reuse one buffer, so a part must be sent before the next is asked for.
 */
async function* partsOf(body: Readable, size: number): AsyncGenerator<Part> {
  // Held as received until the body passes SMALL_BODY_BYTES: small bodies never cost a full part buffer.
  const head: Buffer[] = [];
  let part: Buffer | undefined;
  let filled = 0;
  let yieldedFull = false;
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    let bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    while (bytes.length > 0) {
      if (part === undefined) {
        if (filled + bytes.length < Math.min(size, SMALL_BODY_BYTES)) {
          head.push(bytes);
          filled += bytes.length;
          break;
        }
        part = Buffer.allocUnsafeSlow(size);
        let offset = 0;
        for (const held of head) offset += held.copy(part, offset);
        head.length = 0;
      }
      const n = Math.min(size - filled, bytes.length);
      bytes.copy(part, filled, 0, n);
      filled += n;
      bytes = bytes.subarray(n);
      if (filled === size) {
        yieldedFull = true;
        yield { bytes: part, whole: false };
        filled = 0;
      }
    }
  }
  if (part === undefined) yield { bytes: Buffer.concat(head, filled), whole: true };
  else if (!yieldedFull || filled > 0) yield { bytes: part.subarray(0, filled), whole: !yieldedFull };
}

async function retryOnConflict<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (httpStatus(err) !== 409 || n >= CONFLICT_ATTEMPTS) throw err;
    }
  }
}

function checkLength(actual: number, opts: PutOptions | undefined): void {
  if (opts?.contentLength !== undefined && actual !== opts.contentLength) {
    throw new ContentLengthMismatchError(`body had ${actual} bytes, contentLength said ${opts.contentLength}`);
  }
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}
