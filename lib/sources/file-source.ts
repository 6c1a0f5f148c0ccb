/**
 * The fetch client of sources A and B: finds the file a source delivered for a day and
 * streams it to local disk, over FTP (basic-ftp, passive mode, optional explicit TLS) or
 * HTTP(S) (fetch, conditional requests). Files may be many GB: nothing is held in memory.
 *
 * Failures are classified so the ingestion activity can decide what to retry:
 * `SourceConnectionError` (network, timeouts, cut transfers: retry), `SourceFileMissingError`
 * (not there / vanished), `SourceFileChangedError` (changed mid-fetch: fetch again), and the
 * non-retryable `SourceAuthError`, `SourceProtocolError`, `SourceSpecError` — listed in
 * NON_RETRYABLE_SOURCE_ERRORS for a retry policy's `nonRetryableErrorTypes`. No message ever
 * carries the password of the source URL.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { Client as FtpClient, FTPError, type FileInfo } from 'basic-ftp';
import { isDay } from '../time/days.ts';

/** Where a source delivers and what its files are called. */
export interface FileSourceSpec {
  /** The folder: `ftp://user:pass@host:port/dir/` or `http(s)://host/dir/`. */
  url: string;
  /** File name pattern with {date} (YYYY-MM-DD) and {yyyymmdd} placeholders and * wildcards */
  pattern: string;
  /** FTP: explicit TLS (AUTH TLS) on the control and data connections. */
  tls?: boolean;
  /** Time allowed to connect and log in (FTP) or to get response headers (HTTP); default 15 s. */
  connectTimeoutMs?: number;
  /** A transfer that receives nothing for this long is abandoned; default 60 s. */
  idleTimeoutMs?: number;
}

/** One file found at a source. `url` never carries a password, so it can be logged and stored. */
export interface RemoteFile {
  name: string;
  url: string;
  size?: number;
  etag?: string;
  /** ISO 8601. */
  modifiedAt?: string;
}

export interface DownloadOptions {
  /** Aborts the transfer (an activity's cancellation signal); the promise rejects with its reason. */
  signal?: AbortSignal;
  /**
   * Conditional fetch: when the file still has this ETag (HTTP) or was not modified after
   * this time, nothing is downloaded and the result says `notModified`.
   */
  ifChangedSince?: { etag?: string; modifiedAt?: string };
}

export type DownloadResult =
  | { readonly notModified: false; readonly bytes: number; readonly sha256: string }
  | { readonly notModified: true; readonly bytes: 0 };

// ---------------------------------------------------------------------------------------
// Errors

/** Base of every error this module throws; `retryable` says whether trying again can help. */
export abstract class SourceError extends Error {
  abstract readonly retryable: boolean;
}

/** Network error, timeout, refused or cut connection, server busy: retrying can heal it. */
export class SourceConnectionError extends SourceError {
  override name = 'SourceConnectionError';
  readonly retryable = true;
}

/** The file (or the day's file) is not at the source, or vanished between listing and download. */
export class SourceFileMissingError extends SourceError {
  override name = 'SourceFileMissingError';
  readonly retryable = true;
}

/** The file changed while it was being fetched (size or ETag moved): fetch it again. */
export class SourceFileChangedError extends SourceError {
  override name = 'SourceFileChangedError';
  readonly retryable = true;
}

/** Login or authorization refused: retrying with the same credentials cannot help. */
export class SourceAuthError extends SourceError {
  override name = 'SourceAuthError';
  readonly retryable = false;
}

/** The server answered something this client cannot work with (e.g. refused TLS). */
export class SourceProtocolError extends SourceError {
  override name = 'SourceProtocolError';
  readonly retryable = false;
}

/** The source is misconfigured: bad URL, pattern, or a folder that does not exist. */
export class SourceSpecError extends SourceError {
  override name = 'SourceSpecError';
  readonly retryable = false;
}

/** Error names a Temporal retry policy should not retry (`nonRetryableErrorTypes`). */
export { NON_RETRYABLE_SOURCE_ERRORS } from './source-error-types.ts';

// ---------------------------------------------------------------------------------------
// URLs, secrets and patterns

const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const PROGRESS_INTERVAL_MS = 1_000;

interface SourceLocation {
  readonly protocol: 'ftp' | 'http';
  /** The folder URL, credentials removed (http) or kept (ftp, for login). */
  readonly url: URL;
  /** `host:port` as messages name it. */
  readonly host: string;
  readonly user: string;
  readonly password: string;
  /** Strings that must never appear in a message: the password, encoded and decoded. */
  readonly secrets: readonly string[];
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Replaces every secret in `text` with `***`. */
function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join('***');
  return out;
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  const cause = err.cause instanceof Error ? ` (${describeError(err.cause)})` : '';
  return `${code && !err.message.includes(code) ? `${code}: ` : ''}${err.message}${cause}`;
}

/** The original error as a cause, unless its text carries a secret. */
function safeCause(err: unknown, secrets: readonly string[]): { cause?: unknown } {
  const text = err instanceof Error ? `${err.message} ${err.stack ?? ''}` : String(err);
  return secrets.some((s) => text.includes(s)) ? {} : { cause: err };
}

/** The URL as it may be shown and stored: user kept, password dropped. */
export function displayUrl(url: URL): string {
  const shown = new URL(url.href);
  shown.password = '';
  return shown.href;
}

function locate(spec: FileSourceSpec): SourceLocation {
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    throw new SourceSpecError(`source URL is not a URL: "${spec.url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@')}"`);
  }
  const password = decode(url.password);
  const secrets = [...new Set([url.password, password])].filter((s) => s.length > 0);
  const timeouts = {
    connectTimeoutMs: spec.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: spec.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
  };
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  if (url.protocol === 'ftp:' || url.protocol === 'ftps:') {
    return { protocol: 'ftp', url, host: url.host || url.hostname, user: decode(url.username) || 'anonymous', password, secrets, ...timeouts };
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    if (spec.tls && url.protocol === 'http:') throw new SourceSpecError(`tls is set for ${displayUrl(url)}: use an https:// URL`);
    return { protocol: 'http', url, host: url.host, user: decode(url.username), password, secrets, ...timeouts };
  }
  throw new SourceSpecError(`source URL must be ftp://, ftps://, http:// or https://, got ${displayUrl(url)}`);
}

function assertDay(day: string): void {
  if (!isDay(day)) throw new SourceSpecError(`day must be a date as YYYY-MM-DD, got "${day}"`);
}

/** The pattern with `{date}` and `{yyyymmdd}` filled in for `day`; `*` wildcards are kept. */
export function expandFilePattern(pattern: string, day: string): string {
  assertDay(day);
  if (pattern.includes('/')) throw new SourceSpecError(`file pattern names a file, not a path: "${pattern}"`);
  const expanded = pattern.replaceAll('{date}', day).replaceAll('{yyyymmdd}', day.replaceAll('-', ''));
  const leftover = /\{[^}]*\}/.exec(expanded);
  if (leftover) throw new SourceSpecError(`file pattern "${pattern}" has an unknown placeholder ${leftover[0]} (known: {date}, {yyyymmdd})`);
  return expanded;
}

/** A RegExp matching the file names of `day` (`*` matches any run of characters). */
export function filePatternRegExp(pattern: string, day: string): RegExp {
  const source = expandFilePattern(pattern, day)
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`);
}

// ---------------------------------------------------------------------------------------
// Streaming to disk

/** Counts, hashes and reports progress of the bytes passing to the file. */
class TransferMeter {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private lastReport = Date.now();

  constructor(
    private readonly onProgress: ((bytes: number) => void) | undefined,
    private readonly onData: () => void,
  ) {}

  add(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.onData();
    const now = Date.now();
    if (this.onProgress && now - this.lastReport >= PROGRESS_INTERVAL_MS) {
      this.lastReport = now;
      this.onProgress(this.bytes);
    }
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** A Writable over an open file: backpressure comes from awaiting each write. */
function fileSink(handle: FileHandle, meter: TransferMeter): Writable {
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, callback) {
      try {
        meter.add(chunk);
      } catch (err) {
        // A throwing progress callback fails the download instead of escaping the stream.
        callback(err as Error);
        return;
      }
      const writeAll = async (): Promise<void> => {
        for (let offset = 0; offset < chunk.length; ) {
          const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
          offset += bytesWritten;
        }
      };
      writeAll().then(() => callback(), callback);
    },
  });
}

/**
 * Runs `transfer` into a temp file next to `localPath` and renames it into place once the
 * transfer succeeded; a failed or cancelled transfer leaves no file behind.
 */
async function intoLocalFile(
  localPath: string,
  onProgress: ((bytes: number) => void) | undefined,
  onData: () => void,
  transfer: (sink: Writable) => Promise<void>,
): Promise<{ bytes: number; sha256: string }> {
  await mkdir(path.dirname(path.resolve(localPath)), { recursive: true });
  const tempPath = `${localPath}.${randomBytes(4).toString('hex')}.part`;
  const handle = await open(tempPath, 'w');
  const meter = new TransferMeter(onProgress, onData);
  let closed = false;
  try {
    await transfer(fileSink(handle, meter));
    await handle.close();
    closed = true;
    await rename(tempPath, localPath);
    return { bytes: meter.bytes, sha256: meter.digest() };
  } catch (err) {
    if (!closed) await handle.close().catch(() => undefined);
    await rm(tempPath, { force: true });
    throw err;
  }
}

function checkByteCount(what: string, bytes: number, expected: number | undefined): void {
  if (expected === undefined || bytes === expected) return;
  if (bytes < expected) throw new SourceConnectionError(`${what}: transfer ended after ${bytes} of ${expected} bytes`);
  throw new SourceFileChangedError(`${what}: received ${bytes} bytes but the file had ${expected} when listed`);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('download aborted');
}

// ---------------------------------------------------------------------------------------
// FTP

function classifyFtpError(err: unknown, loc: SourceLocation, what: string, missing?: () => SourceError): SourceError {
  if (err instanceof SourceError) return err;
  const detail = redact(describeError(err), loc.secrets);
  const cause = safeCause(err, loc.secrets);
  if (err instanceof FTPError) {
    if (err.code === 530 || err.code === 532) {
      return new SourceAuthError(`FTP login to ${loc.host} as "${redact(loc.user, loc.secrets)}" refused: ${detail}`, cause);
    }
    if (err.code === 550 && missing) return missing();
    // 4xx replies are transient by definition (421 busy, 425 no data connection, 426 aborted…).
    if (err.code >= 400 && err.code < 500) return new SourceConnectionError(`${what} at ${loc.host}: ${detail}`, cause);
    return new SourceProtocolError(`${what} at ${loc.host}: server answered ${detail}`, cause);
  }
  // Anything else came from the sockets (reset, refused, timed out, closed early): retry.
  return new SourceConnectionError(`${what} at ${loc.host} failed: ${detail}`, cause);
}

/** The folder path relative to the login directory, as RFC 1738 reads an FTP URL. */
function ftpFolder(loc: SourceLocation): string {
  return decode(loc.url.pathname).replace(/^\/+/, '');
}

/** Connects, logs in and changes to the source folder; closes the client whatever `work` does. */
async function withFtp<T>(loc: SourceLocation, spec: FileSourceSpec, signal: AbortSignal | undefined, work: (client: FtpClient) => Promise<T>): Promise<T> {
  // basic-ftp's timeout is an idle timeout on whichever socket is active: the transfer one.
  const client = new FtpClient(loc.idleTimeoutMs);
  const onAbort = (): void => client.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw abortReason(signal);
    let connectTimedOut = false;
    const connectTimer = setTimeout(() => {
      connectTimedOut = true;
      client.close();
    }, loc.connectTimeoutMs);
    try {
      await client.access({
        host: loc.url.hostname,
        port: loc.url.port === '' ? 21 : Number(loc.url.port),
        user: loc.user,
        password: loc.password,
        secure: loc.url.protocol === 'ftps:' ? 'implicit' : spec.tls === true,
      });
    } catch (err) {
      if (connectTimedOut) {
        throw new SourceConnectionError(`FTP connect and login to ${loc.host} timed out after ${loc.connectTimeoutMs / 1000} s`);
      }
      throw err;
    } finally {
      clearTimeout(connectTimer);
    }
    const folder = ftpFolder(loc);
    if (folder !== '') {
      try {
        await client.cd(folder);
      } catch (err) {
        throw classifyFtpError(err, loc, `FTP cd ${folder}`, () => new SourceSpecError(`FTP folder "${folder}" does not exist at ${loc.host}`));
      }
    }
    return await work(client);
  } catch (err) {
    if (signal?.aborted) throw abortReason(signal);
    throw classifyFtpError(err, loc, 'FTP');
  } finally {
    signal?.removeEventListener('abort', onAbort);
    client.close();
  }
}

function ftpFileUrl(loc: SourceLocation, name: string): string {
  return displayUrl(new URL(encodeURIComponent(name), loc.url));
}

async function findFtpFiles(loc: SourceLocation, spec: FileSourceSpec, day: string): Promise<RemoteFile[]> {
  const matches = filePatternRegExp(spec.pattern, day);
  return withFtp(loc, spec, undefined, async (client) => {
    let listing: FileInfo[];
    try {
      listing = await client.list();
    } catch (err) {
      throw classifyFtpError(err, loc, `FTP list of ${displayUrl(loc.url)}`);
    }
    return listing
      .filter((f) => (f.isFile || f.isSymbolicLink) && matches.test(f.name))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((f) => ({
        name: f.name,
        url: ftpFileUrl(loc, f.name),
        ...(f.size >= 0 && f.isFile ? { size: f.size } : {}),
        ...(f.modifiedAt ? { modifiedAt: f.modifiedAt.toISOString() } : {}),
      }));
  });
}

async function downloadFtpFile(
  loc: SourceLocation,
  spec: FileSourceSpec,
  file: RemoteFile,
  localPath: string,
  onProgress: ((bytes: number) => void) | undefined,
  options: DownloadOptions,
): Promise<DownloadResult> {
  const since = options.ifChangedSince?.modifiedAt;
  if (since !== undefined && file.modifiedAt !== undefined && Date.parse(file.modifiedAt) <= Date.parse(since)) {
    return { notModified: true, bytes: 0 };
  }
  const what = `FTP download of ${ftpFileUrl(loc, file.name)}`;
  const vanished = (): SourceError => new SourceFileMissingError(`${what}: the file is no longer at the source`);
  return withFtp(loc, spec, options.signal, async (client) => {
    let expected = file.size;
    if (expected === undefined) {
      try {
        expected = await client.size(file.name);
      } catch (err) {
        // Servers without SIZE answer 500/502: then the byte count goes unchecked.
        if (err instanceof FTPError && err.code === 550) throw vanished();
        if (!(err instanceof FTPError)) throw classifyFtpError(err, loc, what);
      }
    }
    const { bytes, sha256 } = await intoLocalFile(
      localPath,
      onProgress,
      () => undefined,
      async (sink) => {
        try {
          await client.downloadTo(sink, file.name);
        } catch (err) {
          if (options.signal?.aborted) throw abortReason(options.signal);
          throw classifyFtpError(err, loc, what, vanished);
        }
      },
    );
    checkByteCount(what, bytes, expected);
    return { notModified: false, bytes, sha256 };
  });
}

// ---------------------------------------------------------------------------------------
// HTTP

/** Aborts a request when the connection phase or a silence in the body lasts too long. */
class HttpWatchdog {
  readonly controller = new AbortController();
  /** Set when the watchdog, not the caller, aborted. */
  firedError: SourceConnectionError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onCallerAbort = (): void => this.controller.abort(this.caller?.reason);

  constructor(private readonly caller: AbortSignal | undefined) {
    caller?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  arm(ms: number, message: string): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.firedError = new SourceConnectionError(message);
      this.controller.abort(this.firedError);
    }, ms);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }
}

function httpTarget(loc: SourceLocation, name: string): URL {
  const url = new URL(encodeURIComponent(name), loc.url);
  url.username = '';
  url.password = '';
  return url;
}

function httpHeaders(loc: SourceLocation, extra: Record<string, string | undefined>): Record<string, string> {
  const headers: Record<string, string> = {
    // Raw bytes as delivered: a compressed transfer would be decoded by fetch and miscounted.
    'accept-encoding': 'identity',
    'user-agent': 'tempolake-file-source',
  };
  if (loc.user !== '' || loc.password !== '') {
    headers['authorization'] = `Basic ${Buffer.from(`${loc.user}:${loc.password}`).toString('base64')}`;
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) headers[k] = v;
  return headers;
}

function classifyHttpStatus(status: number, statusText: string, what: string, loc: SourceLocation): SourceError {
  const answer = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
  if (status === 401 || status === 403 || status === 407) {
    return new SourceAuthError(`${what}: ${loc.host} refused access${loc.user ? ` for "${redact(loc.user, loc.secrets)}"` : ''} (${answer})`);
  }
  if (status === 404 || status === 410) return new SourceFileMissingError(`${what}: not at the source (${answer})`);
  if (status === 412) return new SourceFileChangedError(`${what}: the file changed since it was listed (${answer})`);
  if (status === 408 || status === 425 || status === 429 || status >= 500) return new SourceConnectionError(`${what}: ${answer}`);
  return new SourceProtocolError(`${what}: unexpected ${answer}`);
}

function classifyHttpError(err: unknown, watchdog: HttpWatchdog, loc: SourceLocation, what: string): unknown {
  if (watchdog.firedError) return watchdog.firedError;
  if (watchdog.controller.signal.aborted) return watchdog.controller.signal.reason;
  if (err instanceof SourceError) return err;
  const detail = redact(describeError(err), loc.secrets);
  // fetch refuses the ports browsers block (21, 25, 6000…): configuration, not the network.
  if (err instanceof Error && err.cause instanceof Error && err.cause.message === 'bad port') {
    return new SourceSpecError(`${what}: fetch refuses port ${loc.url.port} (a blocked port); serve the source on another one`);
  }
  return new SourceConnectionError(`${what} failed: ${detail}`, safeCause(err, loc.secrets));
}

async function httpRequest(
  loc: SourceLocation,
  method: 'HEAD' | 'GET',
  url: URL,
  headers: Record<string, string>,
  watchdog: HttpWatchdog,
): Promise<Response> {
  const what = `HTTP ${method} ${url.href}`;
  watchdog.arm(loc.connectTimeoutMs, `${what}: no response within ${loc.connectTimeoutMs / 1000} s`);
  try {
    return await fetch(url, { method, headers, signal: watchdog.controller.signal, redirect: 'follow' });
  } catch (err) {
    throw classifyHttpError(err, watchdog, loc, what);
  }
}

function remoteFileFromHeaders(name: string, url: URL, res: Response): RemoteFile {
  const length = res.headers.get('content-length');
  const etag = res.headers.get('etag');
  const lastModified = res.headers.get('last-modified');
  const modified = lastModified === null ? Number.NaN : Date.parse(lastModified);
  return {
    name,
    url: url.href,
    ...(length !== null && /^\d+$/.test(length) ? { size: Number(length) } : {}),
    ...(etag !== null ? { etag } : {}),
    ...(Number.isNaN(modified) ? {} : { modifiedAt: new Date(modified).toISOString() }),
  };
}

async function findHttpFile(loc: SourceLocation, spec: FileSourceSpec, day: string): Promise<RemoteFile[]> {
  const name = expandFilePattern(spec.pattern, day);
  if (name.includes('*')) {
    throw new SourceSpecError(`HTTP sources cannot be listed: pattern "${spec.pattern}" must name one file (no * wildcards)`);
  }
  const url = httpTarget(loc, name);
  const watchdog = new HttpWatchdog(undefined);
  try {
    const res = await httpRequest(loc, 'HEAD', url, httpHeaders(loc, {}), watchdog);
    if (res.status === 404 || res.status === 410) return [];
    if (!res.ok) throw classifyHttpStatus(res.status, res.statusText, `HTTP HEAD ${url.href}`, loc);
    return [remoteFileFromHeaders(name, url, res)];
  } finally {
    watchdog.dispose();
  }
}

async function downloadHttpFile(
  loc: SourceLocation,
  file: RemoteFile,
  localPath: string,
  onProgress: ((bytes: number) => void) | undefined,
  options: DownloadOptions,
): Promise<DownloadResult> {
  const url = httpTarget(loc, file.name);
  const what = `HTTP GET ${url.href}`;
  const since = options.ifChangedSince;
  const headers = httpHeaders(loc, {
    // Only a strong ETag proves byte-identity; If-Match makes a file replaced since
    // listing fail with 412 instead of mixing two versions into one count.
    'if-match': file.etag !== undefined && !file.etag.startsWith('W/') ? file.etag : undefined,
    'if-none-match': since?.etag,
    'if-modified-since': since?.modifiedAt === undefined ? undefined : new Date(since.modifiedAt).toUTCString(),
  });
  const watchdog = new HttpWatchdog(options.signal);
  try {
    const res = await httpRequest(loc, 'GET', url, headers, watchdog);
    if (res.status === 304) {
      await res.body?.cancel();
      return { notModified: true, bytes: 0 };
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw classifyHttpStatus(res.status, res.statusText, what, loc);
    }
    const length = res.headers.get('content-length');
    const announced = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
    if (file.size !== undefined && announced !== undefined && announced !== file.size) {
      await res.body?.cancel();
      throw new SourceFileChangedError(`${what}: the server now sends ${announced} bytes, the file had ${file.size} when listed`);
    }
    const idleMessage = `${what}: no data for ${loc.idleTimeoutMs / 1000} s`;
    watchdog.arm(loc.idleTimeoutMs, idleMessage);
    const { bytes, sha256 } = await intoLocalFile(
      localPath,
      onProgress,
      () => watchdog.arm(loc.idleTimeoutMs, idleMessage),
      async (sink) => {
        if (res.body === null) return;
        const body = Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>);
        try {
          await pipeline(body, sink);
        } catch (err) {
          throw classifyHttpError(err, watchdog, loc, what);
        }
      },
    );
    checkByteCount(what, bytes, announced ?? file.size);
    return { notModified: false, bytes, sha256 };
  } finally {
    watchdog.dispose();
  }
}

// ---------------------------------------------------------------------------------------
// The API

/**
 * Finds the file(s) for `day`; [] when nothing matches yet. FTP: lists the folder and
 * matches the pattern (with `*` wildcards); HTTP: expands the pattern (no wildcards) against
 * the URL and checks presence with HEAD (404 → []).
 */
export async function findSourceFiles(spec: FileSourceSpec, day: string): Promise<RemoteFile[]> {
  const loc = locate(spec);
  return loc.protocol === 'ftp' ? findFtpFiles(loc, spec, day) : findHttpFile(loc, spec, day);
}

/**
 * Streams the file to localPath (temp file, then rename), calling onProgress(bytes) at most
 * every ~1 s (activities heartbeat with it); verifies the byte count against the size when
 * known; throws a SourceConnectionError (retryable) on network errors / disconnects, and a
 * SourceFileMissingError when it vanished. Returns the byte count and SHA-256 of what it wrote.
 */
export async function downloadSourceFile(
  spec: FileSourceSpec,
  file: RemoteFile,
  localPath: string,
  onProgress?: (bytes: number) => void,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const loc = locate(spec);
  if (options.signal?.aborted) throw abortReason(options.signal);
  return loc.protocol === 'ftp'
    ? downloadFtpFile(loc, spec, file, localPath, onProgress, options)
    : downloadHttpFile(loc, file, localPath, onProgress, options);
}
