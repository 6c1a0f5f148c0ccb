/**
 * Streams generated text to disk in large chunks, honouring backpressure, so a multi-GB
 * file never sits in memory. The file appears under its final name only once complete:
 * a server listing the folder meanwhile must not offer half a delivery.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** 1 MiB per write: big enough that per-write cost vanishes, small enough for RSS. */
const CHUNK_BYTES = 1 << 20;
/** A UTF-8 character takes at most 3 bytes per UTF-16 unit, so this much room always fits a line. */
const MAX_BYTES_PER_CHAR = 3;

/**
 * Encodes lines straight into a 1 MiB buffer and hands full buffers to the stream; the
 * caller awaits `flush()` when `full` says so. No big intermediate string is ever built.
 */
export class ChunkedTextWriter {
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;
  private waiting = false;
  /** Bytes handed to the file so far (UTF-8). */
  bytes = 0;

  constructor(private readonly stream: WriteStream) {}

  /** Queues text; call `flush()` when `full` so the stream's backpressure is honoured. */
  add(text: string): void {
    if (this.used + text.length * MAX_BYTES_PER_CHAR > CHUNK_BYTES) {
      if (text.length * MAX_BYTES_PER_CHAR > CHUNK_BYTES) {
        this.handOver();
        this.pushToStream(Buffer.from(text, 'utf8'));
        return;
      }
      this.handOver();
    }
    this.used += this.chunk.write(text, this.used, 'utf8');
  }

  /** True once the stream asked to wait (or the buffer has little room left). */
  get full(): boolean {
    return this.waiting || this.used > CHUNK_BYTES - 4096;
  }

  async flush(): Promise<void> {
    this.handOver();
    if (this.waiting) {
      await once(this.stream, 'drain');
      this.waiting = false;
    }
  }

  private handOver(): void {
    if (this.used === 0) return;
    this.pushToStream(this.chunk.subarray(0, this.used));
    // The stream keeps the handed-over buffer until written: start a fresh one.
    this.chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    this.used = 0;
  }

  private pushToStream(data: Buffer): void {
    this.bytes += data.length;
    if (!this.stream.write(data)) this.waiting = true;
  }
}

/**
 * Runs `fill` against a writer on `<outPath>.<pid>.tmp`, then renames it to `outPath`.
 * On failure the temp file is removed and `outPath` is left as it was.
 */
export async function writeTextFile(outPath: string, fill: (writer: ChunkedTextWriter) => Promise<void>): Promise<{ bytes: number }> {
  await mkdir(path.dirname(path.resolve(outPath)), { recursive: true });
  const tempPath = `${outPath}.${process.pid}.tmp`;
  const stream = createWriteStream(tempPath);
  const writer = new ChunkedTextWriter(stream);
  try {
    await fill(writer);
    await writer.flush();
    stream.end();
    await once(stream, 'close');
    await rename(tempPath, outPath);
    return { bytes: writer.bytes };
  } catch (err) {
    stream.destroy();
    await rm(tempPath, { force: true });
    throw err;
  }
}
