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

export interface RouteContext<P, Q> {
  readonly params: P;
  readonly query: Q;
  readonly req: Request;
  readonly res: Response;
}

export interface RouteDef<P extends AnyObject, Q extends AnyObject> {
  readonly method: 'get';
  /** OpenAPI path template, e.g. `/v1/regions/{id}/summary`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  /** Needs an API key (and counts against its rate limit). */
  readonly auth: boolean;
  readonly params?: P;
  readonly query?: Q;
  /** A path parameter that fails its schema names nothing that exists: 404, not 400 (table names). */
  readonly invalidPathIsNotFound?: boolean;
  /** Answers in several media types chosen by Accept (406 when none fits). */
  readonly negotiates?: boolean;
  /** The operation's own responses (2xx, 304, 404…); the common error responses are added. */
  readonly responses: Record<number, ResponseConfig>;
}

export interface ApiRoute {
  readonly method: 'get';
  readonly path: string;
  readonly expressPath: string;
  readonly auth: boolean;
  readonly openapi: RouteConfig;
  readonly handler: RequestHandler;
}

export function problemResponse(description: string, headers?: ResponseConfig['headers']): ResponseConfig {
  return { description, ...(headers ? { headers } : {}), content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } } };
}

const integerHeader = (description: string): { description: string; schema: { type: 'integer' } } => ({ description, schema: { type: 'integer' } });

function commonResponses(def: RouteDef<AnyObject, AnyObject>): Record<number, ResponseConfig> {
  const out: Record<number, ResponseConfig> = { 400: problemResponse('A parameter is invalid: `invalid_params` names each one and why') };
  if (def.auth) {
    out[401] = problemResponse('No API key, or not a valid one (send `Authorization: Bearer <key>` or `X-API-Key`)');
    out[429] = problemResponse('Over the per-key rate limit', { 'Retry-After': integerHeader('Seconds until the window resets') });
  }
  if (def.negotiates) out[406] = problemResponse('None of the Accept media types is offered');
  out[413] = problemResponse('Request body larger than the limit');
  out[500] = problemResponse('Unexpected error');
  out[503] = problemResponse('The warehouse is unavailable', { 'Retry-After': integerHeader('Seconds to wait before retrying') });
  return out;
}

/** One entry per parameter (its first issue): a value failing two checks is still one mistake. */
function toInvalidParams(error: z.ZodError, location: ParamLocation): InvalidParam[] {
  const out = new Map<string, InvalidParam>();
  const add = (name: string, reason: string): void => {
    if (!out.has(name)) out.set(name, { name, in: location, reason });
  };
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') for (const key of issue.keys) add(key, 'is not a parameter of this operation');
    else add(String(issue.path[0] ?? '(all)'), issue.message);
  }
  return [...out.values()];
}

export function defineRoute<P extends AnyObject = z.ZodObject<{}>, Q extends AnyObject = typeof NoQuery>(
  def: RouteDef<P, Q>,
  handle: (ctx: RouteContext<z.infer<P>, z.infer<Q>>) => Promise<void> | void,
): ApiRoute {
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
    if (problems.length > 0) throw invalidParams(problems);
    // A route marked auth but mounted without the guard must fail closed.
    if (def.auth && !res.locals['customer']) throw new HttpProblem(401, 'an API key is required');
    await handle({ params: params as z.infer<P>, query: (parsedQuery.data ?? {}) as z.infer<Q>, req, res });
  };
  const openapi: RouteConfig = {
    method: def.method,
    path: def.path,
    operationId: def.operationId,
    summary: def.summary,
    ...(def.description ? { description: def.description } : {}),
    tags: [...def.tags],
    ...(def.auth ? { security: [{ bearerKey: [] }, { headerKey: [] }] } : { security: [] }),
    request: { ...(def.params ? { params: def.params } : {}), query },
    responses: { ...commonResponses(def as RouteDef<AnyObject, AnyObject>), ...def.responses },
  };
  return { method: def.method, path: def.path, expressPath: def.path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1'), auth: def.auth, openapi, handler };
}
