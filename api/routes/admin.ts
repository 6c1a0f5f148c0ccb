/**
 * The operators' view of the lake (X-Admin-Key): every dataset's state over a window, and one
 * dataset's days — the partition catalog `lake status` prints (lib/catalog/build.ts).
 */
import { z } from 'zod';
import type { Catalog, CatalogRequest } from '../../lib/catalog/build.ts';
import { PARTITION_STATES } from '../../lib/catalog/build.ts';
import { addDays, dayOf } from '../../lib/time/days.ts';
import { HttpProblem, notFound } from '../problem.ts';
import { defineRoute, problemResponse, type ApiRoute } from '../route.ts';
import { Day } from '../schemas.ts';

export interface AdminDeps {
  /** Builds the catalog; undefined: the API runs without a lake (503). */
  readonly catalog?: (req: CatalogRequest) => Promise<Catalog>;
  readonly datasetNames: readonly string[];
  /** Default window: this many days up to today. */
  readonly windowDays: number;
}

const State = z.enum(PARTITION_STATES);
const Counts = z.strictObject(Object.fromEntries(PARTITION_STATES.map((s) => [s, z.number().int()])) as Record<(typeof PARTITION_STATES)[number], z.ZodNumber>);
const Freshness = z.strictObject({ expectation: z.string(), verdict: z.enum(['fresh', 'late', 'unknown']), detail: z.string() });
const Window = z.strictObject({ from: z.string(), to: z.string() });

const DatasetSummarySchema = z
  .strictObject({
    name: z.string(),
    zone: z.string(),
    description: z.string(),
    window: Window,
    lastPublished: z.string().optional().meta({ description: 'The newest day published' }),
    counts: Counts,
    freshness: Freshness,
    snapshotId: z.string().optional().meta({ description: "The Iceberg table's current snapshot" }),
  })
  .meta({ id: 'DatasetState' });

const PartitionSchema = z
  .strictObject({
    day: z.string(),
    state: State,
    reason: z.string().optional(),
    due: z.string().meta({ description: 'When the day is due (its freshness expectation)' }),
    rows: z.number().int().optional(),
    bytes: z.number().int().optional(),
    files: z.number().int().optional(),
    hours: z.number().int().min(0).max(24).optional().meta({ description: 'Hourly raw datasets (source D): the hours of the day that landed; an hour without events writes nothing' }),
    publishedAt: z.string().optional(),
    workflowId: z.string().optional(),
    runId: z.string().optional(),
    inputs: z.array(z.strictObject({ key: z.string(), sha256: z.string() })).optional().meta({ description: 'Raw inputs and their SHA-256' }),
  })
  .meta({ id: 'CatalogPartition' });

const DatasetListSchema = z.strictObject({ builtAt: z.string(), ms: z.number(), datasets: z.array(DatasetSummarySchema) }).meta({ id: 'DatasetStateList' });
const PartitionListSchema = z.strictObject({ dataset: DatasetSummarySchema, partitions: z.array(PartitionSchema) }).meta({ id: 'CatalogPartitionList' });

const WindowQuery = z.strictObject({
  from: Day.optional().meta({ description: 'First day (default: the configured window back from `to`)' }),
  to: Day.optional().meta({ description: 'Last day (default: today, UTC)' }),
});

export function adminRoutes(deps: AdminDeps): ApiRoute[] {
  const window = (q: { from?: string | undefined; to?: string | undefined }): { from: string; to: string } => {
    const to = q.to ?? dayOf(new Date());
    const from = q.from ?? addDays(to, -(deps.windowDays - 1));
    if (from > to) throw new HttpProblem(400, `from (${from}) is after to (${to})`);
    return { from, to };
  };
  const build = (req: CatalogRequest): Promise<Catalog> => {
    if (!deps.catalog) throw new HttpProblem(503, 'this API runs without the lake: no catalog');
    return deps.catalog(req);
  };
  const summary = ({ partitions: _p, ...d }: Catalog['datasets'][number]): z.infer<typeof DatasetSummarySchema> => d;

  const list = defineRoute(
    {
      method: 'get',
      path: '/v1/admin/datasets',
      operationId: 'listDatasetStates',
      summary: "Every dataset's state: last published day, missing/failed/stale/running days in the window, freshness",
      tags: ['admin'],
      auth: 'admin',
      query: WindowQuery,
      responses: { 200: { description: 'The datasets', content: { 'application/json': { schema: DatasetListSchema } } } },
    },
    async ({ query, res }) => {
      const catalog = await build(window(query));
      res.setHeader('Cache-Control', 'no-store');
      res.json({ builtAt: catalog.builtAt, ms: Math.round(catalog.stats.ms), datasets: catalog.datasets.map(summary) });
    },
  );

  const partitions = defineRoute(
    {
      method: 'get',
      path: '/v1/admin/datasets/{name}/partitions',
      operationId: 'listDatasetPartitions',
      summary: "One dataset's days in the window: state, reason, rows, bytes, files, run and inputs",
      tags: ['admin'],
      auth: 'admin',
      params: z.object({ name: z.string().meta({ description: `A dataset: ${deps.datasetNames.join(', ')}` }) }),
      query: WindowQuery,
      responses: {
        200: { description: 'The days that are due or hold data, oldest first', content: { 'application/json': { schema: PartitionListSchema } } },
        404: problemResponse('No such dataset'),
      },
    },
    async ({ params, query, res }) => {
      if (!deps.datasetNames.includes(params.name)) throw notFound(`no dataset "${params.name}"`);
      const catalog = await build({ ...window(query), datasets: [params.name] });
      const [d] = catalog.datasets;
      if (!d) throw notFound(`no dataset "${params.name}"`);
      res.setHeader('Cache-Control', 'no-store');
      res.json({ dataset: summary(d), partitions: d.partitions });
    },
  );
  return [list, partitions];
}
