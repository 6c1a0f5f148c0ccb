/**
 * Errors as RFC 9457 problem details (`application/problem+json`), produced in one place:
 * routes throw an HttpProblem (or let anything else escape), `problemMiddleware` renders it.
 * Only an unexpected failure is a 5xx; everything a client can get wrong maps to a 4xx.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { STATUS_CODES } from 'node:http';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Problem types beyond the plain HTTP status (about:blank): they carry extension members. */
export const PROBLEM_TYPES = {
  invalidParameters: 'urn:tempolake:problem:invalid-parameters',
  notReady: 'urn:tempolake:problem:not-ready',
} as const;

export type ParamLocation = 'path' | 'query' | 'header' | 'body';

export interface InvalidParam {
  readonly name: string;
  readonly in: ParamLocation;
  readonly reason: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  invalid_params?: InvalidParam[];
  checks?: Record<string, 'up' | 'down'>;
}

interface ProblemOptions {
  readonly type?: string;
  readonly invalidParams?: readonly InvalidParam[];
  readonly checks?: Record<string, 'up' | 'down'>;
  readonly headers?: Record<string, string>;
}

export class HttpProblem extends Error {
  override name = 'HttpProblem';
  constructor(
    readonly status: number,
    readonly detail?: string,
    readonly options: ProblemOptions = {},
  ) {
    super(detail ?? STATUS_CODES[status] ?? `HTTP ${status}`);
  }

  body(instance: string): ProblemBody {
    const type = this.options.type ?? 'about:blank';
    const title = type === PROBLEM_TYPES.invalidParameters ? 'Invalid parameters' : type === PROBLEM_TYPES.notReady ? 'Not ready' : (STATUS_CODES[this.status] ?? 'Error');
    return {
      type,
      title,
      status: this.status,
      ...(this.detail !== undefined ? { detail: this.detail } : {}),
      instance,
      ...(this.options.invalidParams ? { invalid_params: [...this.options.invalidParams] } : {}),
      ...(this.options.checks ? { checks: this.options.checks } : {}),
    };
  }
}

export function invalidParams(params: readonly InvalidParam[]): HttpProblem {
  const detail = params.map((p) => `${p.name}: ${p.reason}`).join('; ');
  return new HttpProblem(400, detail, { type: PROBLEM_TYPES.invalidParameters, invalidParams: params });
}

export const notFound = (detail: string): HttpProblem => new HttpProblem(404, detail);

export function sendProblem(res: Response, problem: HttpProblem, instance: string): void {
  for (const [name, value] of Object.entries(problem.options.headers ?? {})) res.setHeader(name, value);
  // Errors describe one request: never let a cache keep them (nor keep what the route had set for its success).
  res.setHeader('Cache-Control', 'no-store');
  res.removeHeader('ETag');
  res.removeHeader('Content-Disposition');
  res.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem.body(instance)));
}

/** The last route: whatever no route matched is a 404, never Express's HTML page. */
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(notFound(`no resource at ${req.path}`));
};

/** Errors of body-parser and similar middleware: a 4xx status with a message safe to show. */
interface ExposedHttpError {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  type?: string;
  message: string;
}

/** PostgreSQL / pg-pool failures that mean "the warehouse is unreachable or overloaded", not "the request is bad". */
function isWarehouseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string' && (/^(08|53|57P0)/.test(e.code) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND'].includes(e.code))) return true;
  return typeof e?.message === 'string' && /timeout exceeded when trying to connect|Connection terminated/.test(e.message);
}

export function toProblem(err: unknown): HttpProblem {
  if (err instanceof HttpProblem) return err;
  const e = err as ExposedHttpError;
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const detail = e.type === 'entity.too.large' ? 'request body is larger than the limit' : e.expose ? e.message : undefined;
    return new HttpProblem(status, detail);
  }
  if (isWarehouseUnavailable(err)) return new HttpProblem(503, 'the warehouse is unavailable; try again shortly', { headers: { 'Retry-After': '5' } });
  return new HttpProblem(500, 'unexpected error; it has been logged');
}

/** The one error middleware: every failure leaves the API as problem+json. */
export function problemMiddleware(log: (line: string) => void): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const clientGone = isClientAbort(err) || req.socket.destroyed;
    if (res.headersSent || clientGone) {
      // A streamed body already started: cut the connection so the client sees a truncated
      // transfer (no terminating chunk) instead of a complete-looking file.
      if (!clientGone) log(`api: ${req.method} ${req.originalUrl} failed mid-response: ${describe(err)}`);
      res.destroy();
      return;
    }
    const problem = toProblem(err);
    if (problem.status >= 500) log(`api: ${req.method} ${req.originalUrl} → ${problem.status}: ${describe(err)}`);
    sendProblem(res, problem, req.originalUrl);
  };
}

function isClientAbort(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE';
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
