/**
 * One definition per operation: its zod parameter schemas validate the request here and
 * describe it in the OpenAPI document (openapi.ts), and its declared responses are the
 * contract the tests check every response against. Routes never parse parameters by hand.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { ResponseConfig, RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { z } from 'zod';
import { HttpProblem, invalidParams, notFound, PROBLEM_CONTENT_TYPE, type InvalidParam, type ParamLocation } from './problem.ts';
import { NoQuery, ProblemSchema } from './schemas.ts';

type AnyObject = z.ZodObject;

export type RouteMethod = 'get' | 'post' | 'put' | 'delete';

export interface RouteContext<P, Q, B = undefined, H = {}> {
  readonly params: P;
  readonly query: Q;
  /** The parsed JSON body (with the schema's defaults applied); undefined without a body schema. */
  readonly body: B;
  /** The declared request headers, parsed. */
  readonly headers: H;
  readonly req: Request;
  readonly res: Response;
}

export interface RouteDef<P extends AnyObject, Q extends AnyObject, B extends z.ZodType = z.ZodType, H extends AnyObject = AnyObject> {
  readonly method: RouteMethod;
  /** OpenAPI path template, e.g. `/v1/regions/{id}/summary`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  /** Needs an API key (and counts against its rate limit); `admin`: the admin key (X-Admin-Key) instead. */
  readonly auth: boolean | 'admin';
  readonly params?: P;
  readonly query?: Q;
  /** A JSON request body (required): anything else is 415, a body failing the schema 400 naming each field. */
  readonly body?: B;
  /**
   * A raw request body (uploads), left unread for the handler to stream: its media types and
   * what each is. Another Content-Type, or none, is 415. Excludes `body`.
   */
  readonly rawBody?: RawBodyDef;
  /** Request headers, keyed by their documented spelling (`Idempotency-Key`); looked up case-insensitively. */
  readonly headers?: H;
  /** A path parameter that fails its schema names nothing that exists: 404, not 400 (table names). */
  readonly invalidPathIsNotFound?: boolean;
  /** Answers in several media types chosen by Accept (406 when none fits). */
  readonly negotiates?: boolean;
  /** The operation's own responses (2xx, 304, 404…); the common error responses are added. */
  readonly responses: Record<number, ResponseConfig>;
}

export interface RawBodyDef {
  readonly description: string;
  /** Media type (no parameters) → what a body of that type is. */
  readonly contentTypes: Readonly<Record<string, string>>;
}

/** The media type of the request's Content-Type (lower-cased, parameters dropped), undefined without one. */
export function requestMediaType(req: Request): string | undefined {
  const header = req.headers['content-type'];
  return header === undefined ? undefined : (header.split(';')[0] ?? '').trim().toLowerCase();
}

export interface ApiRoute {
  readonly method: RouteMethod;
  readonly path: string;
  readonly expressPath: string;
  readonly auth: boolean | 'admin';
  readonly openapi: RouteConfig;
  readonly handler: RequestHandler;
}

export function problemResponse(description: string, headers?: ResponseConfig['headers']): ResponseConfig {
  return { description, ...(headers ? { headers } : {}), content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } } };
}

const integerHeader = (description: string): { description: string; schema: { type: 'integer' } } => ({ description, schema: { type: 'integer' } });

function commonResponses(def: RouteDef<AnyObject, AnyObject, z.ZodType, AnyObject>): Record<number, ResponseConfig> {
  const out: Record<number, ResponseConfig> = { 400: problemResponse('A parameter is invalid: `invalid_params` names each one and why') };
  if (def.auth === 'admin') out[401] = problemResponse('No admin key, or not the right one (send `X-Admin-Key`)');
  else if (def.auth) {
    out[401] = problemResponse('No API key, or not a valid one (send `Authorization: Bearer <key>` or `X-API-Key`)');
    out[429] = problemResponse('Over the per-key rate limit', { 'Retry-After': integerHeader('Seconds until the window resets') });
  }
  if (def.negotiates) out[406] = problemResponse('None of the Accept media types is offered');
  out[413] = problemResponse('Request body larger than the limit');
  if (def.body) out[415] = problemResponse('The body is not `application/json`');
  if (def.rawBody) out[415] = problemResponse(`The body's Content-Type is not one of ${Object.keys(def.rawBody.contentTypes).map((t) => `\`${t}\``).join(', ')}`);
  out[500] = problemResponse('Unexpected error');
  out[503] = problemResponse('A dependency (the warehouse or Temporal) is unavailable', { 'Retry-After': integerHeader('Seconds to wait before retrying') });
  return out;
}

/** One entry per parameter (its first issue): a value failing two checks is still one mistake. */
function toInvalidParams(error: z.ZodError, location: ParamLocation): InvalidParam[] {
  const out = new Map<string, InvalidParam>();
  const add = (name: string, reason: string): void => {
    if (!out.has(name)) out.set(name, { name, in: location, reason });
  };
  const unknown = location === 'body' ? 'is not a field of this request body' : 'is not a parameter of this operation';
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const parent = location === 'body' && issue.path.length > 0 ? `${issue.path.map(String).join('.')}.` : '';
      for (const key of issue.keys) add(`${parent}${key}`, unknown);
    }
    else if (location === 'body') {
      // Body fields nest (`condition.metric`): name the whole path.
      if (issue.path.length === 0) add('(body)', issue.code === 'invalid_type' ? 'must be a JSON object' : issue.message);
      else add(issue.path.map(String).join('.'), issue.message);
    } else add(String(issue.path[0] ?? '(all)'), issue.message);
  }
  return [...out.values()];
}

/** The declared headers by their documented names (Express keeps them lower-cased); absent ones are left out. */
function declaredHeaders(req: Request, schema: AnyObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(schema.shape)) {
    const value = req.get(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

export function defineRoute<
  P extends AnyObject = z.ZodObject<{}>,
  Q extends AnyObject = typeof NoQuery,
  B extends z.ZodType = z.ZodUndefined,
  H extends AnyObject = z.ZodObject<{}>,
>(def: RouteDef<P, Q, B, H>, handle: (ctx: RouteContext<z.infer<P>, z.infer<Q>, z.output<B>, z.infer<H>>) => Promise<void> | void): ApiRoute {
  const query = def.query ?? NoQuery;
  const handler: RequestHandler = async (req, res) => {
    const problems: InvalidParam[] = [];
    let params: unknown = {};
    if (def.params) {
      const parsed = def.params.safeParse(req.params);
      if (!parsed.success) {
        if (def.invalidPathIsNotFound) throw notFound(`no resource at ${req.path}`);
        problems.push(...toInvalidParams(parsed.error, 'path'));
      } else params = parsed.data;
    }
    const parsedQuery = query.safeParse(req.query);
    if (!parsedQuery.success) problems.push(...toInvalidParams(parsedQuery.error, 'query'));
    let headers: unknown = {};
    if (def.headers) {
      const parsed = def.headers.safeParse(declaredHeaders(req, def.headers));
      if (!parsed.success) problems.push(...toInvalidParams(parsed.error, 'header'));
      else headers = parsed.data;
    }
    let body: unknown;
    if (def.body) {
      // express.json() reads only JSON; any other body would reach the schema as "missing".
      // No Content-Type at all is a missing body: a 400 below.
      if (req.headers['content-type'] !== undefined && !req.is('application/json')) throw new HttpProblem(415, 'send the body as application/json');
      const parsed = def.body.safeParse(req.body);
      if (!parsed.success) problems.push(...toInvalidParams(parsed.error, 'body'));
      else body = parsed.data;
    }
    if (def.rawBody) {
      const type = requestMediaType(req);
      if (type === undefined || !Object.hasOwn(def.rawBody.contentTypes, type)) {
        throw new HttpProblem(415, `send the body as one of ${Object.keys(def.rawBody.contentTypes).join(', ')}`);
      }
    }
    if (problems.length > 0) throw invalidParams(problems);
    // A route marked auth but mounted without the guard must fail closed.
    if (def.auth === true && !res.locals['customer']) throw new HttpProblem(401, 'an API key is required');
    if (def.auth === 'admin' && res.locals['admin'] !== true) throw new HttpProblem(401, 'the admin key is required');
    await handle({ params: params as z.infer<P>, query: (parsedQuery.data ?? {}) as z.infer<Q>, body: body as z.output<B>, headers: headers as z.infer<H>, req, res });
  };
  const openapi: RouteConfig = {
    method: def.method,
    path: def.path,
    operationId: def.operationId,
    summary: def.summary,
    ...(def.description ? { description: def.description } : {}),
    tags: [...def.tags],
    ...(def.auth === 'admin' ? { security: [{ adminKey: [] }] } : def.auth ? { security: [{ bearerKey: [] }, { headerKey: [] }] } : { security: [] }),
    request: {
      ...(def.params ? { params: def.params } : {}),
      query,
      ...(def.headers ? { headers: def.headers } : {}),
      ...(def.body ? { body: { required: true, content: { 'application/json': { schema: def.body } } } } : {}),
      ...(def.rawBody
        ? {
            body: {
              required: true,
              description: def.rawBody.description,
              content: Object.fromEntries(
                Object.entries(def.rawBody.contentTypes).map(([type, description]) => [type, { schema: { type: 'string' as const, description, contentMediaType: type } }]),
              ),
            },
          }
        : {}),
    },
    responses: { ...commonResponses(def as unknown as RouteDef<AnyObject, AnyObject, z.ZodType, AnyObject>), ...def.responses },
  };
  return { method: def.method, path: def.path, expressPath: def.path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1'), auth: def.auth, openapi, handler };
}
