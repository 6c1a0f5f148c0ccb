/**
 * What a customer may ask for: one zod schema per analysis type, discriminated by `type`.
 * The API validates a POST body with it (400 naming the field) and documents it in the
 * OpenAPI document; the analysis activity validates again (non-retryable failure), so a
 * workflow started by any other client is held to the same contract. No free SQL: every
 * field is a value the SQL templates quote or a name picked from a fixed menu.
 */
import { z } from 'zod';

const Day = z.iso.date({ error: 'must be a calendar date as YYYY-MM-DD' });
const RegionIdField = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, { error: 'must be a region id as listed by GET /v1/regions' });

/** Longest range an analysis may cover: the 15 years of history the platform keeps, plus slack. */
export const MAX_ANALYSIS_DAYS = 16 * 366;

const dayCount = (from: string, to: string): number => (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;

export const RegionTrendRequest = z
  .strictObject({
    type: z.literal('region_trend'),
    region_id: RegionIdField.optional().meta({ description: 'The region (GET /v1/regions); omitted: every region, each with its own series and correlation' }),
    from: Day,
    to: Day,
    bucket: z.enum(['day', 'week', 'month']).default('month').meta({ description: 'Bucket of the series: ISO weeks start on Monday' }),
  })
  .refine((r) => r.from <= r.to, { error: 'must not be after `to`', path: ['from'] })
  .refine((r) => dayCount(r.from, r.to) <= MAX_ANALYSIS_DAYS, { error: `covers more than ${MAX_ANALYSIS_DAYS} days`, path: ['to'] })
  .meta({
    id: 'RegionTrendRequest',
    description:
      "Weather and market series of one region (or of every region) bucketed by day, week or month, with the Pearson correlation of the buckets' average temperature and traded volume.",
  });

/** Daily weather measures a condition may test (columns of operational.weather_daily). */
export const WEATHER_METRICS = ['temperature_avg', 'temperature_min', 'temperature_max', 'precipitation_sum', 'wind_speed_avg', 'wind_speed_max', 'relative_humidity_avg'] as const;
export const CONDITION_OPERATORS = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

const DayRange = z.strictObject({ from: Day, to: Day }).refine((r) => r.from <= r.to, { error: 'must not be after `to`', path: ['from'] });

export const WeatherImpactRequest = z
  .strictObject({
    type: z.literal('weather_impact'),
    region_id: RegionIdField,
    from: Day,
    to: Day,
    condition: z
      .strictObject({
        metric: z.enum(WEATHER_METRICS),
        operator: z.enum(Object.keys(CONDITION_OPERATORS) as [keyof typeof CONDITION_OPERATORS, ...(keyof typeof CONDITION_OPERATORS)[]]),
        threshold: z.number().finite(),
      })
      .meta({ description: 'A day meets the condition when `metric operator threshold` holds for the region that day' }),
    baseline: DayRange.optional().meta({ description: 'Days to compare with (default: the days of from..to that do not meet the condition)' }),
    min_change: z.number().min(0).default(0.2).meta({ description: 'Smallest relative change of events per day that counts as changed (0.2 = 20 %)' }),
  })
  .refine((r) => r.from <= r.to, { error: 'must not be after `to`', path: ['from'] })
  .refine((r) => dayCount(r.from, r.to) <= MAX_ANALYSIS_DAYS, { error: `covers more than ${MAX_ANALYSIS_DAYS} days`, path: ['to'] })
  .meta({
    id: 'WeatherImpactRequest',
    description:
      "Customers active in a region (source A) whose activity on days meeting a weather condition differs from a baseline window by at least `min_change`, with their attributes from source B.",
  });

const Identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'must be a lower-case column or dataset name (letters, digits, _)' });

/** Columns of sources A and B a dataset may be joined on. */
export const JOIN_KEYS = { source_a: ['customer_id', 'region', 'campaign_id', 'channel'], source_b: ['customer_id', 'region', 'segment'] } as const;
export const JOIN_AGGREGATES = ['rows', 'customers', 'amount_sum', 'amount_avg'] as const;

export const DatasetJoinRequest = z
  .strictObject({
    type: z.literal('dataset_join'),
    dataset: Identifier.meta({ description: 'One of your uploaded datasets (GET /v1/datasets)' }),
    dataset_key: Identifier.meta({ description: 'Column of the dataset to join on' }),
    source: z.enum(['source_a', 'source_b']).meta({ description: 'source_a: activity events; source_b: customer attributes (latest row per customer)' }),
    source_key: z.enum([...new Set([...JOIN_KEYS.source_a, ...JOIN_KEYS.source_b])] as [string, ...string[]]),
    group_by: Identifier.optional().meta({ description: 'Column of the dataset to group by (default: dataset_key)' }),
    aggregates: z.array(z.enum(JOIN_AGGREGATES)).min(1).max(JOIN_AGGREGATES.length).meta({ description: 'rows, customers (distinct), amount_sum and amount_avg (source_a only)' }),
    from: Day.optional().meta({ description: 'source_a: first day of events (default: all)' }),
    to: Day.optional().meta({ description: 'source_a: last day of events (default: all)' }),
  })
  .refine((r) => (JOIN_KEYS[r.source] as readonly string[]).includes(r.source_key), { error: 'is not a join column of that source', path: ['source_key'] })
  .refine((r) => r.source === 'source_a' || !r.aggregates.some((a) => a.startsWith('amount_')), { error: 'amount aggregates need source_a', path: ['aggregates'] })
  .refine((r) => !r.from || !r.to || r.from <= r.to, { error: 'must not be after `to`', path: ['from'] })
  .meta({ id: 'DatasetJoinRequest', description: 'Your uploaded dataset joined with source A or B on a key you name, aggregated by a column of the dataset.' });

export const AnalysisRequest = z.discriminatedUnion('type', [RegionTrendRequest, WeatherImpactRequest, DatasetJoinRequest]).meta({ id: 'AnalysisRequest' });
export type AnalysisRequest = z.infer<typeof AnalysisRequest>;
export type AnalysisType = AnalysisRequest['type'];

export const ANALYSIS_TYPES: readonly AnalysisType[] = ['region_trend', 'weather_impact', 'dataset_join'];
