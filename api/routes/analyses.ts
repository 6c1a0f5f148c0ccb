/**
 * Case 3: a customer's analyses. POST starts one (`customerAnalysis` workflow) and answers at
 * once; the client follows `Location` until the status is final, then reads the result table
 * through /v1/tables/{name}. Each analysis lives under the caller's own workflow-ID prefix, so
 * anything not theirs, or not a well-formed id, is 404.
 */
import type { Response } from 'express';
import { z } from 'zod';
import { AnalysisRequest } from '../../lib/analysis/requests.ts';
import { analysisHref, cancelAnalysis, getAnalysis, listAnalyses, POLL_AFTER_SECONDS, startAnalysis, withTemporal, type AnalysisView } from '../analyses-runs.ts';
import { customerOf } from '../auth.ts';
import { nextLink } from '../daily-rows.ts';
import { problemResponse, defineRoute, type ApiRoute } from '../route.ts';
import { AnalysisId, AnalysisListSchema, AnalysisSchema, analysesLimit, Cursor, IdempotencyKey } from '../schemas.ts';
import type { TemporalAccess } from '../temporal.ts';

export interface AnalysisRouteDeps {
  readonly temporal: TemporalAccess;
}

const json = { 'application/json': { schema: AnalysisSchema } };
const locationHeader = { Location: { description: 'The analysis: GET it for its status', schema: { type: 'string' as const } } };

/** The status body, with a hint when to look again while it is not final. */
function sendView(res: Response, status: number, view: AnalysisView): void {
  res.setHeader('Cache-Control', 'no-store');
  if (view.status === 'queued' || view.status === 'running') res.setHeader('Retry-After', String(POLL_AFTER_SECONDS[view.status]));
  res.status(status).json(view);
}

export function analysisRoutes(deps: AnalysisRouteDeps): ApiRoute[] {
  const idParams = z.object({ id: AnalysisId });

  const create = defineRoute(
    {
      method: 'post',
      path: '/v1/analyses',
      operationId: 'createAnalysis',
      summary: 'Start an analysis of the lake into a table of your schema',
      description:
        'Answers at once with 202 and `Location`; poll it until `status` is final. The result becomes the table `analysis_<id>` ' +
        'of your schema. With an `Idempotency-Key` the request is safe to repeat: the same key is always the same analysis and never ' +
        'runs twice (202 with its current status), while the same key with another body is 409.',
      tags: ['analyses'],
      auth: true,
      headers: z.object({ 'Idempotency-Key': IdempotencyKey.optional() }),
      body: AnalysisRequest,
      responses: {
        202: { description: 'Accepted (or already accepted under this Idempotency-Key): its status', headers: locationHeader, content: json },
        409: problemResponse('The Idempotency-Key was used before with another request'),
      },
    },
    async ({ body, headers, res }) => {
      const customer = customerOf(res);
      const view = await withTemporal(deps.temporal, (client) => startAnalysis(client, customer.id, body, headers['Idempotency-Key']));
      res.setHeader('Location', analysisHref(view.id));
      sendView(res, 202, view);
    },
  );

  const list = defineRoute(
    {
      method: 'get',
      path: '/v1/analyses',
      operationId: 'listAnalyses',
      summary: 'Your analyses',
      description:
        'Unfinished analyses first (newest first), then finished ones by when they finished (latest first); follow `next`. ' +
        'One that finishes while you page can show up twice (unfinished, then final); none that existed when you began is left out. ' +
        'A list shows an unfinished analysis as `running`: GET it to tell queued from running.',
      tags: ['analyses'],
      auth: true,
      query: z.strictObject({ limit: analysesLimit, cursor: Cursor.optional() }),
      responses: { 200: { description: 'A page of your analyses', content: { 'application/json': { schema: AnalysisListSchema } } } },
    },
    async ({ query, req, res }) => {
      const customer = customerOf(res);
      const page = await withTemporal(deps.temporal, (client) => listAnalyses(client, customer.id, query.limit, query.cursor));
      res.setHeader('Cache-Control', 'no-store');
      res.json({ analyses: page.analyses, next: page.next ? nextLink(req, { limit: query.limit }, page.next) : null });
    },
  );

  const get = defineRoute(
    {
      method: 'get',
      path: '/v1/analyses/{id}',
      operationId: 'getAnalysis',
      summary: 'The status of one of your analyses',
      description: 'While `queued` or `running`, `Retry-After` says when to look again. Not yours, or no such id: 404.',
      tags: ['analyses'],
      auth: true,
      params: idParams,
      invalidPathIsNotFound: true,
      responses: {
        200: {
          // Retry-After is not declared as a header: a declared header is one every such response carries.
          description: 'Its status: progress while running, the result table once succeeded, the reason once failed. While queued or running, `Retry-After` gives the seconds until it is worth asking again.',
          content: json,
        },
        404: problemResponse('No such analysis of yours'),
      },
    },
    async ({ params, res }) => {
      const customer = customerOf(res);
      sendView(res, 200, await withTemporal(deps.temporal, (client) => getAnalysis(client, customer.id, params.id)));
    },
  );

  const cancel = defineRoute(
    {
      method: 'delete',
      path: '/v1/analyses/{id}',
      operationId: 'cancelAnalysis',
      summary: 'Cancel one of your analyses',
      description:
        'Stops a queued or running analysis; whatever it had written is removed, in the lake and in your schema, before it shows ' +
        '`cancelled`. 202 with the status when the cancellation is requested; 200 when it was already cancelled; 409 once it has ' +
        'succeeded or failed (its result table stays: drop it yourself).',
      tags: ['analyses'],
      auth: true,
      params: idParams,
      invalidPathIsNotFound: true,
      responses: {
        200: { description: 'It was already cancelled', content: json },
        202: { description: 'Cancellation requested: follow the status until `cancelled`', content: json },
        404: problemResponse('No such analysis of yours'),
        409: problemResponse('It has already succeeded or failed'),
      },
    },
    async ({ params, res }) => {
      const customer = customerOf(res);
      const outcome = await withTemporal(deps.temporal, (client) => cancelAnalysis(client, customer.id, params.id));
      sendView(res, outcome.requested ? 202 : 200, outcome.view);
    },
  );

  return [create, list, get, cancel];
}
