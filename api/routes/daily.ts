/**
 * Case 2: a region's daily weather and daily market history (up to 15 years), as keyset
 * pages of JSON or streamed whole as CSV / NDJSON. Read under the caller's database role.
 */
import type pg from 'pg';
import { z } from 'zod';
import { withCustomerRole } from '../../lib/warehouse/customers.ts';
import { SERVING_SCHEMA, WH_MARKET_DAILY, WH_WEATHER_DAILY, type WarehouseTable } from '../../lib/warehouse/tables.ts';
import { customerOf } from '../auth.ts';
import { chooseFormat, nextLink, readPage, STREAM_CONTENT_TYPES, streamRows, type Condition, type RowSource } from '../daily-rows.ts';
import { notFound } from '../problem.ts';
import type { RegionCache } from '../region-cache.ts';
import { defineRoute, problemResponse, type ApiRoute } from '../route.ts';
import { CsvSchema, Cursor, Day, MarketDailyPageSchema, NdjsonSchema, pageLimit, RegionId, WeatherDailyPageSchema } from '../schemas.ts';

export interface DailyDeps {
  readonly pool: pg.Pool;
  readonly regions: RegionCache;
  readonly pageSize: number;
}

interface DailyDataset {
  readonly table: WarehouseTable;
  /** The table's region column (the two tables name it differently). */
  readonly regionColumn: string;
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly pageSchema: z.ZodType;
  readonly fileSuffix: string;
}

const DATASETS: readonly DailyDataset[] = [
  {
    table: WH_WEATHER_DAILY,
    regionColumn: 'region_id',
    path: '/v1/regions/{id}/weather/daily',
    operationId: 'getWeatherDaily',
    summary: "A region's daily weather",
    pageSchema: WeatherDailyPageSchema,
    fileSuffix: 'weather-daily',
  },
  {
    table: WH_MARKET_DAILY,
    regionColumn: 'region',
    path: '/v1/regions/{id}/market/daily',
    operationId: 'getMarketDaily',
    summary: "A region's daily market activity",
    pageSchema: MarketDailyPageSchema,
    fileSuffix: 'market-daily',
  },
];

function dailyQuery(pageSize: number) {
  return z
    .strictObject({
      from: Day.optional().meta({ description: 'First day (included); default: the earliest' }),
      to: Day.optional().meta({ description: 'Last day (included); default: the latest' }),
      limit: pageLimit(pageSize),
      cursor: Cursor.optional(),
    })
    .superRefine((q, ctx) => {
      if (q.from && q.to && q.from > q.to) ctx.addIssue({ code: 'custom', path: ['from'], message: `is after to (${q.to})` });
    });
}

function dailySource(d: DailyDataset, region: string, from: string | undefined, to: string | undefined): RowSource {
  const where: Condition[] = [(bind) => `${d.regionColumn} = ${bind(region)}`];
  if (from) where.push((bind) => `"day" >= ${bind(from)}`);
  if (to) where.push((bind) => `"day" <= ${bind(to)}`);
  // One row per region and day (the loads guarantee it), so the day alone orders a region's rows.
  return { relation: `${SERVING_SCHEMA}.${d.table.name}`, columns: d.table.columns.map((c) => c.name), where, key: ['"day"'] };
}

export function dailyRoutes(deps: DailyDeps): ApiRoute[] {
  return DATASETS.map((d) =>
    defineRoute(
      {
        method: 'get',
        path: d.path,
        operationId: d.operationId,
        summary: d.summary,
        description:
          `Rows of serving.${d.table.name} by day. JSON (the default) comes in keyset pages: follow \`next\` until it is null. ` +
          'With `Accept: text/csv` or `Accept: application/x-ndjson` the whole range is streamed in one response (no paging).',
        tags: ['history'],
        auth: true,
        negotiates: true,
        params: z.object({ id: RegionId }),
        query: dailyQuery(deps.pageSize),
        responses: {
          200: {
            description: 'A page of rows, or every row streamed',
            content: {
              'application/json': { schema: d.pageSchema },
              [STREAM_CONTENT_TYPES.csv.split(';')[0] as string]: { schema: CsvSchema },
              [STREAM_CONTENT_TYPES.ndjson.split(';')[0] as string]: { schema: NdjsonSchema },
            },
          },
          404: problemResponse('No such region'),
        },
      },
      async ({ params, query, req, res }) => {
        const customer = customerOf(res);
        const format = chooseFormat(req);
        if (!(await deps.regions.hasRegion(params.id))) throw notFound(`no region "${params.id}"`);
        const source = dailySource(d, params.id, query.from, query.to);
        res.setHeader('Cache-Control', 'no-store');
        if (format !== 'json') {
          await withCustomerRole(deps.pool, customer, (client) => streamRows(client, source, format, res, `${params.id}-${d.fileSuffix}`));
          return;
        }
        const page = await withCustomerRole(deps.pool, customer, (client) => readPage(client, source, query.limit, query.cursor));
        const filters = { from: query.from, to: query.to, limit: query.limit };
        res.json({ region_id: params.id, rows: page.rows, next: page.next ? nextLink(req, filters, page.next) : null });
      },
    ),
  );
}
