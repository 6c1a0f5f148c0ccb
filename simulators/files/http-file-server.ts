/**
 * The HTTP delivery side of sources A and B: a read-only static file server on node:http
 * with the validators a real origin gives (strong ETag, Last-Modified), conditional
 * answers (304, 412), and single byte ranges. Files are streamed, never buffered.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface HttpFileServerOptions {
  readonly rootDir: string;
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** Cut the first download of each file after this many bytes (socket reset). */
  readonly dropAfterBytes?: number;
}

export interface RunningFileServer {
  /** Base URL with a trailing slash. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.jsonl': 'application/x-ndjson',
  '.json': 'application/json',
  '.csv': 'text/csv; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** The file under `root` a request path names, or undefined when it leaves the root. */
function servedPath(root: string, requestUrl: string | undefined): string | undefined {
  let pathname: string;
  try {
    // URL parsing resolves `..` and `%2e%2e` segments before the path is decoded.
    pathname = decodeURIComponent(new URL(requestUrl ?? '/', 'http://origin').pathname);
  } catch {
    return undefined;
  }
  if (pathname.includes('\0')) return undefined;
  const full = path.resolve(root, `.${pathname}`);
  return full.startsWith(root + path.sep) ? full : undefined;
}

/** RFC 9110 §8.8.3.2: If-Match compares strongly, If-None-Match weakly. */
function etagListMatches(header: string, etag: string, weak: boolean): boolean {
  if (header.trim() === '*') return true;
  const strip = (tag: string): string => (weak ? tag.replace(/^W\//, '') : tag);
  return header
    .split(',')
    .map((t) => t.trim())
    .some((t) => (weak || !t.startsWith('W/')) && strip(t) === strip(etag));
}

type RangeAnswer = { start: number; end: number } | 'unsatisfiable' | undefined;

/** One `bytes=` range; multiple ranges or other units are ignored (a full 200 is allowed). */
function parseRange(header: string | undefined, size: number): RangeAnswer {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start >= size || start > end ? 'unsatisfiable' : { start, end };
}

/** Passes `limit` bytes, then resets the connection: the disconnect a client must survive. */
function cutAfter(limit: number, cut: () => void): Transform {
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const room = limit - sent;
      if (room <= 0) return callback();
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      sent += part.length;
      callback(null, part);
      if (sent >= limit) setImmediate(cut);
    },
  });
}

async function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  firstDownload: (file: string) => boolean,
  dropAfterBytes: number | undefined,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  const file = servedPath(root, req.url);
  const info = file === undefined ? undefined : await stat(file).catch(() => undefined);
  if (file === undefined || info === undefined || !info.isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  // HTTP dates have whole seconds: compare and announce the mtime at that precision.
  const modifiedSecondMs = Math.floor(info.mtimeMs / 1000) * 1000;
  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const validators = { etag, 'last-modified': new Date(modifiedSecondMs).toUTCString() };

  // RFC 9110 §13.2.2 evaluation order.
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined && !etagListMatches(ifMatch, etag, false)) {
    res.writeHead(412, validators).end();
    return;
  }
  const ifNoneMatch = req.headers['if-none-match'];
  const ifModifiedSince = req.headers['if-modified-since'];
  const notModified =
    ifNoneMatch !== undefined
      ? etagListMatches(ifNoneMatch, etag, true)
      : ifModifiedSince !== undefined && modifiedSecondMs <= Date.parse(ifModifiedSince);
  if (notModified) {
    res.writeHead(304, validators).end();
    return;
  }

  const ifRange = req.headers['if-range'];
  const rangeApplies = ifRange === undefined || ifRange === etag || ifRange === validators['last-modified'];
  const range = req.method === 'GET' && rangeApplies ? parseRange(req.headers.range, info.size) : undefined;
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...validators, 'content-range': `bytes */${info.size}` }).end();
    return;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? info.size - 1;
  res.writeHead(range ? 206 : 200, {
    ...validators,
    'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
    'content-length': String(Math.max(0, end - start + 1)),
    'accept-ranges': 'bytes',
    'cache-control': 'no-cache',
    ...(range ? { 'content-range': `bytes ${start}-${end}/${info.size}` } : {}),
  });
  if (req.method === 'HEAD' || info.size === 0) {
    res.end();
    return;
  }
  const body = createReadStream(file, { start, end });
  const drop = dropAfterBytes !== undefined && dropAfterBytes > 0 && firstDownload(file);
  try {
    if (drop) await pipeline(body, cutAfter(dropAfterBytes, () => req.socket.resetAndDestroy()), res);
    else await pipeline(body, res);
  } catch {
    // The client went away (or the fault cut it): nothing left to answer.
  }
}

/** Starts the server; resolves once it listens. */
export async function startHttpFileServer(opts: HttpFileServerOptions): Promise<RunningFileServer> {
  const root = await realpath(opts.rootDir);
  const downloaded = new Set<string>();
  const firstDownload = (file: string): boolean => {
    const first = !downloaded.has(file);
    downloaded.add(file);
    return first;
  };
  const server = createServer((req, res) => {
    serveFile(req, res, root, firstDownload, opts.dropAfterBytes).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${String(err)}\n`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const hostInUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${hostInUrl}:${port}/`,
    host: opts.host,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
