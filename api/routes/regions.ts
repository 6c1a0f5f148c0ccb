/** Case 1: every region's metadata, and one region's summary (served from the region cache). */
import type { Request, Response } from 'express';
import { z } from 'zod';
import { notFound } from '../problem.ts';
import type { CachedJson, RegionCache } from '../region-cache.ts';
import { defineRoute, problemResponse, type ApiRoute } from '../route.ts';
import { RegionId, RegionListSchema, RegionSummarySchema } from '../schemas.ts';

/** Clients may reuse an answer this long, then must revalidate (a 304 costs no query). */
export const REGION_MAX_AGE_S = 30;

const cacheHeaders = {
  ETag: { description: 'Hash of the body: send it back in If-None-Match', schema: { type: 'string' as const } },
  'Cache-Control': { description: `private, max-age=${REGION_MAX_AGE_S}, must-revalidate`, schema: { type: 'string' as const } },
};

/** Sends cached JSON with its validators, or 304 when the client already holds it. */
function sendCached(req: Request, res: Response, body: CachedJson): void {
  res.setHeader('ETag', body.etag);
  res.setHeader('Cache-Control', `private, max-age=${REGION_MAX_AGE_S}, must-revalidate`);
  if (req.fresh) {
    res.status(304).end();
    return;
  }
  res.type('application/json').send(body.json);
}

export function regionRoutes(cache: RegionCache): ApiRoute[] {
  const list = defineRoute(
    {
      method: 'get',
      path: '/v1/regions',
      operationId: 'listRegions',
      summary: 'Every region and its metadata',
      tags: ['regions'],
      auth: true,
      responses: {
        200: { description: 'The regions, by id', headers: cacheHeaders, content: { 'application/json': { schema: RegionListSchema } } },
        304: { description: 'Unchanged since the ETag sent in If-None-Match', headers: cacheHeaders },
      },
    },
    async ({ req, res }) => sendCached(req, res, await cache.regions()),
  );

  const summary = defineRoute(
    {
      method: 'get',
      path: '/v1/regions/{id}/summary',
      operationId: 'getRegionSummary',
      summary: "A region's latest average weather, market interest and metadata",
      description: 'Precomputed per region (serving.region_summary): one indexed lookup, cached until the next load.',
      tags: ['regions'],
      auth: true,
      params: z.object({ id: RegionId }),
      responses: {
        200: { description: 'The summary', headers: cacheHeaders, content: { 'application/json': { schema: RegionSummarySchema } } },
        304: { description: 'Unchanged since the ETag sent in If-None-Match', headers: cacheHeaders },
        404: problemResponse('No such region'),
      },
    },
    async ({ params, req, res }) => {
      const body = await cache.summary(params.id);
      if (!body) throw notFound(`no region "${params.id}"`);
      sendCached(req, res, body);
    },
  );
  return [list, summary];
}
