/**
 * Reading rows for the API in two shapes: keyset pages as JSON (`WHERE key > cursor ORDER BY
 * key LIMIT n+1`: every page costs the same, however deep) or the whole result streamed as
 * CSV/NDJSON through a server-side cursor (pg-query-stream), with backpressure all the way
 * to the socket: a slow client slows the query down, a gone client stops it.
 */
import type { Request, Response } from 'express';
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import { API_PG_TYPES } from './pg-types.ts';
import { HttpProblem, invalidParams } from './problem.ts';

/** Builds one SQL condition, taking a `$n` placeholder for each value it binds. */
export type Condition = (bind: (value: unknown) => string) => string;

export interface RowSource {
  /** Quoted `schema.table`. */
  readonly relation: string;
  /** Output columns in order (plain names; quoted here). */
  readonly columns: readonly string[];
  readonly where: readonly Condition[];
  /** Quoted expressions that order the rows uniquely: the keyset of the pages. */
  readonly key: readonly string[];
}

export type StreamFormat = 'csv' | 'ndjson';

export const STREAM_CONTENT_TYPES: Record<StreamFormat, string> = {
  csv: 'text/csv; charset=utf-8; header=present',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/** A streaming client that reads nothing for this long is dropped (and its query with it). */
const STREAM_IDLE_TIMEOUT_MS = 60_000;
const STREAM_BATCH_ROWS = 1_000;
/** Output is written in chunks of about this size rather than a write per row. */
const CHUNK_BYTES = 64 * 1024;

function selectSql(source: RowSource, extra: readonly string[], after: readonly string[] | undefined, limit: number | undefined): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const bind = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const conditions = source.where.map((c) => c(bind));
  if (after) conditions.push(`(${source.key.join(', ')}) > (${after.map((v) => bind(v)).join(', ')})`);
  const text = [
    `SELECT ${[...source.columns.map((c) => pg.escapeIdentifier(c)), ...extra].join(', ')}`,
    `FROM ${source.relation}`,
    conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '',
    `ORDER BY ${source.key.join(', ')}`,
    limit !== undefined ? `LIMIT ${bind(limit)}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return { text, values };
}

export function rowObject(columns: readonly string[], values: readonly unknown[]): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  columns.forEach((c, i) => {
    row[c] = values[i] ?? null;
  });
  return row;
}

export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The key values a cursor carries, or undefined when it is not one of ours. */
export function decodeCursor(cursor: string, parts: number): string[] | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return Array.isArray(v) && v.length === parts && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
  } catch {
    return undefined;
  }
}

const badCursor = (): Error => invalidParams([{ name: 'cursor', in: 'query', reason: 'is not a cursor of this listing: use the next link of the previous page' }]);

export interface Page {
  readonly rows: Record<string, unknown>[];
  /** Cursor of the page after this one; undefined on the last page. */
  readonly next: string | undefined;
}

/** One page of `limit` rows after `cursor` (from a previous page's `next`). */
export async function readPage(db: Pick<pg.ClientBase, 'query'>, source: RowSource, limit: number, cursor: string | undefined): Promise<Page> {
  const after = cursor === undefined ? undefined : decodeCursor(cursor, source.key.length);
  if (cursor !== undefined && !after) throw badCursor();
  // Aliased: unnamed, `"day"::text` would be a second output column named day, and ORDER BY "day" ambiguous.
  const keyText = source.key.map((k, i) => `(${k})::text AS "tempolake_key_${i}"`);
  const { text, values } = selectSql(source, keyText, after, limit + 1);
  let result: pg.QueryArrayResult;
  try {
    result = await db.query({ text, values, rowMode: 'array', types: API_PG_TYPES });
  } catch (err) {
    // A cursor value the key's type rejects (data exception, class 22) is the client's doing.
    if (after && /^22/.test(String((err as { code?: string }).code))) throw badCursor();
    throw err;
  }
  const more = result.rows.length > limit;
  const rows = more ? result.rows.slice(0, limit) : result.rows;
  const n = source.columns.length;
  const last = rows.at(-1);
  return {
    rows: rows.map((r) => rowObject(source.columns, r.slice(0, n))),
    next: more && last ? encodeCursor(last.slice(n).map(String)) : undefined,
  };
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  // Quoted empty string vs bare empty field keeps '' and NULL apart (as PostgreSQL's COPY does).
  return s === '' || /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const csvLine = (values: readonly unknown[]): string => `${values.map(csvCell).join(',')}\r\n`;

const formatRow = (format: StreamFormat, columns: readonly string[], values: unknown[]): string =>
  format === 'csv' ? csvLine(values) : `${JSON.stringify(rowObject(columns, values))}\n`;

class ClientGoneError extends Error {
  override name = 'ClientGoneError';
  // Read by the error middleware: a client that left is not a server error worth logging.
  readonly code = 'ERR_STREAM_PREMATURE_CLOSE';
}

/** Resolves when `res` can take more, rejects when the client is gone. */
function drained(res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new ClientGoneError('the client closed the connection'));
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/**
 * Streams every row of `source` to `res`, on `client` (inside the caller's transaction).
 * Nothing is written before the first batch of rows has arrived, so a failing query still
 * gets a problem+json answer. Rows are pulled only as fast as the socket drains; leaving
 * the loop (end, error, or the client gone) destroys the stream, which closes the cursor
 * and leaves the connection ready for the caller's COMMIT or ROLLBACK.
 */
export async function streamRows(client: pg.ClientBase, source: RowSource, format: StreamFormat, res: Response, filename: string): Promise<void> {
  const { text, values } = selectSql(source, [], undefined, undefined);
  const rows = client.query(new QueryStream(text, values, { rowMode: 'array', types: API_PG_TYPES, batchSize: STREAM_BATCH_ROWS, highWaterMark: STREAM_BATCH_ROWS }));
  res.status(200);
  res.setHeader('Content-Type', STREAM_CONTENT_TYPES[format]);
  res.setHeader('Content-Disposition', `attachment; filename="${filename}.${format}"`);
  // Writes stall while the client does not read; a client that never reads again is let go.
  res.setTimeout(STREAM_IDLE_TIMEOUT_MS, () => res.destroy(new ClientGoneError(`the client read nothing for ${STREAM_IDLE_TIMEOUT_MS} ms`)));
  let pending = format === 'csv' ? csvLine(source.columns) : '';
  for await (const row of rows as AsyncIterable<unknown[]>) {
    pending += formatRow(format, source.columns, row);
    if (pending.length < CHUNK_BYTES) continue;
    if (res.destroyed) throw new ClientGoneError('the client closed the connection');
    const more = res.write(pending);
    pending = '';
    if (!more) await drained(res);
  }
  if (res.destroyed) throw new ClientGoneError('the client closed the connection');
  res.end(pending);
}

export type ResponseFormat = 'json' | StreamFormat;

/** JSON pages by default (and for `*` / `*` and no Accept); CSV or NDJSON when asked; 406 otherwise. */
export function chooseFormat(req: Request): ResponseFormat {
  const chosen = req.accepts(['application/json', 'text/csv', 'application/x-ndjson']);
  if (chosen === 'text/csv') return 'csv';
  if (chosen === 'application/x-ndjson') return 'ndjson';
  if (chosen === 'application/json') return 'json';
  throw new HttpProblem(406, 'this resource is offered as application/json (pages), text/csv or application/x-ndjson (streamed whole)');
}

/** Relative link to the page after this one: same path and filters, the new cursor. */
export function nextLink(req: Request, query: Record<string, string | number | undefined>, cursor: string): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...query, cursor })) if (v !== undefined) params.set(k, String(v));
  return `${new URL(req.originalUrl, 'http://local').pathname}?${params.toString()}`;
}
