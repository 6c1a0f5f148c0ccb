/**
 * The API's contract as zod schemas: the same objects validate requests (routes) and
 * generate the OpenAPI document (openapi.ts). Response schemas are strict, so a field the
 * document does not describe fails the contract tests instead of leaking out unnoticed.
 */
import { z } from 'zod';
import { AnalysisRequest } from '../lib/analysis/requests.ts';
import { WH_MARKET_DAILY, WH_WEATHER_DAILY, type ColumnType, type WarehouseTable } from '../lib/warehouse/tables.ts';

export const MAX_PAGE_SIZE = 10_000;

// ---- request parameters -------------------------------------------------------------

/** A calendar day PostgreSQL accepts (zod's ISO check knows month lengths and leap years, but lets year 0 through). */
export const Day = z.iso.date({ error: 'must be a calendar date as YYYY-MM-DD' }).refine((s) => s >= '0001-01-01', { error: 'must be a day of year 1 or later' });

export const REGION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

export const RegionId = z
  .string()
  .regex(REGION_ID_PATTERN, { error: 'must be 1-64 letters, digits, _ . : or - (starting with a letter or digit)' })
  .meta({ description: 'Region id, as listed by GET /v1/regions', example: 'r01' });

export const TABLE_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

export const TableName = z
  .string()
  .regex(TABLE_NAME_PATTERN)
  .meta({ description: 'A table of your own schema (lower-case letters, digits, underscores); anything else is 404', example: 'analysis_result' });

/** Result tables of analyses are named so; a dataset may not be. */
export const ANALYSIS_TABLE_PREFIX = 'analysis_';

export const DatasetName = z
  .string()
  .regex(TABLE_NAME_PATTERN, { error: 'must be 1-63 lower-case letters, digits or underscores, not starting with a digit' })
  .refine((s) => !s.startsWith(ANALYSIS_TABLE_PREFIX), { error: `must not start with "${ANALYSIS_TABLE_PREFIX}" (the results of analyses are named so)` })
  .meta({
    description: `A dataset of yours, and the table of your schema it becomes: lower-case letters, digits and underscores, not starting with a digit nor with \`${ANALYSIS_TABLE_PREFIX}\``,
    example: 'orders',
  });

export const Cursor = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,8000}$/, { error: 'must be the cursor of a previous page, unchanged' })
  .meta({ description: 'Opaque position from the `next` link of the previous page' });

/** `limit`: rows per JSON page, defaulting to API_PAGE_SIZE. */
export function pageLimit(defaultLimit: number): z.ZodType<number> {
  return z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .max(MAX_PAGE_SIZE, { error: `must be at most ${MAX_PAGE_SIZE}` })
    .default(Math.min(defaultLimit, MAX_PAGE_SIZE))
    .meta({ description: `Rows per page (1-${MAX_PAGE_SIZE}); ignored when streaming CSV or NDJSON` });
}

export const NoQuery = z.strictObject({});

/** What the workflow contract allows (`analysis_<id>` must be a table name); the API itself makes 16 hex digits. */
export const ANALYSIS_ID_PATTERN = /^[a-z0-9]{1,32}$/;

export const AnalysisId = z
  .string()
  .regex(ANALYSIS_ID_PATTERN)
  .meta({ description: 'An analysis of yours, as returned by POST /v1/analyses; anything else is 404', example: '3f9a0c2be41d7785' });

export const IdempotencyKey = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, { error: 'must be 1-255 visible ASCII characters' })
  .meta({
    description:
      'Makes the POST safe to repeat: the same key (per customer) always names the same analysis, which runs once. ' +
      'Reusing a key with another body is 409.',
    example: 'trend-r01-2024',
  });

export const MAX_ANALYSES_PAGE = 100;

export const analysesLimit = z.coerce
  .number({ error: 'must be a whole number' })
  .int({ error: 'must be a whole number' })
  .min(1, { error: 'must be at least 1' })
  .max(MAX_ANALYSES_PAGE, { error: `must be at most ${MAX_ANALYSES_PAGE}` })
  .default(20)
  .meta({ description: `Analyses per page (1-${MAX_ANALYSES_PAGE})` });

// ---- responses ------------------------------------------------------------------------

export const InvalidParamSchema = z.strictObject({
  name: z.string().meta({ description: 'The parameter, as the client sent it' }),
  in: z.enum(['path', 'query', 'header', 'body']),
  reason: z.string(),
});

export const UploadProblemSchema = z
  .strictObject({
    line: z.number().int().nullable().meta({ description: 'Line of the file (1 = the first; a CSV header is line 1); null when the problem is not of one line' }),
    reason: z.string(),
  })
  .meta({ id: 'UploadProblem' });

export const ProblemSchema = z
  .strictObject({
    type: z.string().meta({ description: 'about:blank, or a URN naming a problem with extension members' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional().meta({ description: 'The request path' }),
    invalid_params: z.array(InvalidParamSchema).optional().meta({ description: 'With 400: each parameter that was wrong and why' }),
    checks: z.record(z.string(), z.enum(['up', 'down'])).optional().meta({ description: 'With 503 from /ready: each dependency and its state' }),
    invalid_rows: z
      .array(UploadProblemSchema)
      .optional()
      .meta({ description: 'With 422 from PUT /v1/datasets/{name}: the rows that do not fit (at most about 100; `detail` gives the whole count)' }),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });

export const HealthSchema = z.strictObject({ status: z.literal('ok') }).meta({ id: 'Health' });

export const ReadySchema = z
  .strictObject({ status: z.literal('ready'), checks: z.record(z.string(), z.literal('up')) })
  .meta({ id: 'Ready' });

const Metadata = z.record(z.string(), z.unknown()).nullable().meta({ description: 'Extra attributes of the region (from the regions seed)' });

const regionMetaShape = {
  region_id: z.string(),
  name: z.string().nullable(),
  latitude: z.number().nullable(),
  longitude: z.number().nullable(),
  country: z.string().nullable(),
  timezone: z.string().nullable(),
  metadata: Metadata,
};

export const RegionSchema = z
  .strictObject({
    ...regionMetaShape,
    origin: z.string().nullable().meta({ description: 'Where the region came from: config (the seed) or a source that reported it' }),
    first_seen: z.iso.datetime({ offset: true }).nullable(),
  })
  .meta({ id: 'Region' });

export const RegionListSchema = z.strictObject({ regions: z.array(RegionSchema) }).meta({ id: 'RegionList' });

export const RegionSummarySchema = z
  .strictObject({
    region: z.strictObject(regionMetaShape),
    weather: z
      .strictObject({
        day: z.iso.date().meta({ description: 'Latest complete UTC day (else the latest day) of weather' }),
        temperature_avg: z.number().nullable(),
        temperature_min: z.number().nullable(),
        temperature_max: z.number().nullable(),
        precipitation_sum: z.number().nullable(),
        wind_speed_avg: z.number().nullable(),
        relative_humidity_avg: z.number().nullable(),
        temperature_avg_7d: z.number().nullable(),
      })
      .nullable()
      .meta({ description: 'null until the region has weather' }),
    market: z
      .strictObject({
        day: z.iso.date().meta({ description: 'Latest UTC day of market activity' }),
        market_interest: z.number().nullable(),
        market_interest_avg_7d: z.number().nullable(),
        volume: z.number().nullable(),
        events: z.number().int().nullable(),
      })
      .nullable()
      .meta({ description: 'null until the region has market activity' }),
  })
  .meta({ id: 'RegionSummary' });

/** A row schema from the warehouse table definition, so the contract follows tables.ts. */
function rowSchema(table: WarehouseTable, id: string): z.ZodObject {
  const shape: Record<string, z.ZodType> = {};
  for (const c of table.columns) {
    const base = columnSchema(c.type);
    shape[c.name] = table.key.includes(c.name) ? base : base.nullable();
  }
  return z.strictObject(shape).meta({ id });
}

function columnSchema(type: ColumnType): z.ZodType {
  switch (type) {
    case 'text':
      return z.string();
    case 'date':
      return z.iso.date();
    case 'double':
      return z.number();
    case 'integer':
    case 'bigint':
      return z.number().int();
    case 'boolean':
      return z.boolean();
    case 'timestamptz':
      return z.iso.datetime({ offset: true });
  }
}

export const WeatherDailyRowSchema = rowSchema(WH_WEATHER_DAILY, 'WeatherDailyRow');
export const MarketDailyRowSchema = rowSchema(WH_MARKET_DAILY, 'MarketDailyRow');

const NextLink = z.string().nullable().meta({ description: 'Relative URL of the next page; null on the last page' });

export const WeatherDailyPageSchema = z
  .strictObject({ region_id: z.string(), rows: z.array(WeatherDailyRowSchema), next: NextLink })
  .meta({ id: 'WeatherDailyPage' });

export const MarketDailyPageSchema = z
  .strictObject({ region_id: z.string(), rows: z.array(MarketDailyRowSchema), next: NextLink })
  .meta({ id: 'MarketDailyPage' });

export const MeSchema = z
  .strictObject({ id: z.string(), name: z.string(), schema: z.string().meta({ description: 'Your warehouse schema' }), created_at: z.iso.datetime({ offset: true }) })
  .meta({ id: 'Customer' });

export const ColumnSchema = z.strictObject({ name: z.string(), type: z.string().meta({ description: 'PostgreSQL type' }) }).meta({ id: 'Column' });

export const TableListSchema = z
  .strictObject({
    schema: z.string(),
    tables: z.array(z.strictObject({ name: z.string(), columns: z.array(ColumnSchema) })),
  })
  .meta({ id: 'TableList' });

export const TablePageSchema = z
  .strictObject({
    table: z.string(),
    columns: z.array(ColumnSchema),
    rows: z.array(z.record(z.string(), z.unknown())),
    next: NextLink,
  })
  .meta({ id: 'TablePage' });

export const CsvSchema = z.string().meta({ description: 'RFC 4180 CSV with a header row; empty field = null' });
export const NdjsonSchema = z.string().meta({ description: 'One JSON object per line, the same rows as the JSON pages' });

// ---- analyses (case 3) ---------------------------------------------------------------------

export const ANALYSIS_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type AnalysisStatusName = (typeof ANALYSIS_STATUSES)[number];

const AnalysisStatusName = z.enum(ANALYSIS_STATUSES).meta({
  description:
    'queued: accepted, no work started yet; running: computing or loading (see `progress`); succeeded: the result table is ready; ' +
    'failed: see `error`; cancelled: stopped by DELETE, nothing of it is left',
});

const analysisShape = {
  id: z.string().meta({ description: 'The analysis id (`analysis_<id>` is its result table)' }),
  type: z.string().nullable().meta({ description: 'The `type` of the request' }),
  status: AnalysisStatusName,
  request: AnalysisRequest.nullable().meta({ description: 'The request as accepted (defaults filled in)' }),
  created_at: z.iso.datetime({ offset: true }),
  finished_at: z.iso.datetime({ offset: true }).nullable(),
  href: z.string().meta({ description: 'This analysis: GET for its status, DELETE to cancel it' }),
};

export const AnalysisSchema = z
  .strictObject({
    ...analysisShape,
    progress: z
      .strictObject({
        phase: z.enum(['computing', 'loading', 'done']).meta({ description: 'computing the result in the lake, then loading it into your schema' }),
        rows: z.number().int().nullable().meta({ description: 'Rows of the result, once computed' }),
      })
      .nullable()
      .meta({ description: 'While running; null otherwise' }),
    result: z
      .strictObject({
        table: z.string().meta({ description: 'The result table in your schema' }),
        lake_table: z.string().meta({ description: 'The same result in the lake (Iceberg)' }),
        rows: z.number().int(),
        href: z.string().meta({ description: 'The rows: GET /v1/tables/{name}' }),
      })
      .nullable()
      .meta({ description: 'Once succeeded; null otherwise' }),
    error: z
      .strictObject({ reason: z.string() })
      .nullable()
      .meta({ description: 'Once failed: why (a bad parameter is named; an internal error is not detailed)' }),
  })
  .meta({ id: 'Analysis' });

export const AnalysisSummarySchema = z
  .strictObject(analysisShape)
  .meta({ id: 'AnalysisSummary', description: 'An analysis in a list: `running` stands for queued or running here (GET the analysis to tell them apart)' });

export const AnalysisListSchema = z
  .strictObject({ analyses: z.array(AnalysisSummarySchema), next: NextLink })
  .meta({ id: 'AnalysisList' });

// ---- datasets (case 4) ---------------------------------------------------------------------

export const DatasetSchema = z
  .strictObject({
    name: z.string(),
    rows: z.number().int(),
    columns: z.array(ColumnSchema),
    table: z.string().meta({ description: 'The table of your schema holding it (the same name)' }),
    href: z.string().meta({ description: 'Its rows: GET /v1/tables/{name}' }),
  })
  .meta({ id: 'Dataset' });

export const DatasetListSchema = z.strictObject({ datasets: z.array(DatasetSchema) }).meta({ id: 'DatasetList' });
