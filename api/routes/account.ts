/**
 * The caller's own data: who they are and the tables of their schema. Every lookup is
 * confined to the caller's schema (from the key, never from the request) and runs under the
 * caller's database role, so a name that escapes the checks still hits the database's grants.
 */
import pg from 'pg';
import { z } from 'zod';
import { withCustomerRole, type Customer } from '../../lib/warehouse/customers.ts';
import { customerOf } from '../auth.ts';
import { chooseFormat, nextLink, readPage, STREAM_CONTENT_TYPES, streamRows, type RowSource } from '../daily-rows.ts';
import { apiQuery } from '../pg-types.ts';
import { notFound } from '../problem.ts';
import { defineRoute, problemResponse, type ApiRoute } from '../route.ts';
import { CsvSchema, Cursor, MeSchema, NdjsonSchema, pageLimit, TABLE_NAME_PATTERN, TableListSchema, TableName, TablePageSchema } from '../schemas.ts';

export interface AccountDeps {
  readonly pool: pg.Pool;
  readonly pageSize: number;
}

interface CatalogRow {
  table_name: string;
  column_name: string;
  column_type: string;
  /** Position in the primary key (0-based), null when not part of it. */
  key_position: number | null;
}

export interface TableInfo {
  readonly name: string;
  readonly columns: { name: string; type: string }[];
  /** Primary key columns in key order; empty when the table has none. */
  readonly primaryKey: string[];
}

/**
 * Tables (and materialized views) of `schema` the current role may read, with their columns.
 * Names outside TABLE_NAME_PATTERN are left out, so everything listed can also be fetched.
 */
export async function catalog(client: pg.ClientBase, schema: string, only?: string): Promise<TableInfo[]> {
  const rows = await apiQuery<CatalogRow>(
    client,
    `SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS column_type,
            array_position(i.indkey::int2[], a.attnum) AS key_position
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'm') AND c.relname ~ $2
        AND has_table_privilege(c.oid, 'SELECT') AND ($3::text IS NULL OR c.relname = $3)
      ORDER BY c.relname, a.attnum`,
    [schema, TABLE_NAME_PATTERN.source, only ?? null],
  );
  const tables = new Map<string, { info: TableInfo; key: [number, string][] }>();
  for (const r of rows) {
    let t = tables.get(r.table_name);
    if (!t) tables.set(r.table_name, (t = { info: { name: r.table_name, columns: [], primaryKey: [] }, key: [] }));
    t.info.columns.push({ name: r.column_name, type: r.column_type });
    if (r.key_position !== null) t.key.push([r.key_position, r.column_name]);
  }
  return [...tables.values()].map(({ info, key }) => ({ ...info, primaryKey: key.sort((a, b) => a[0] - b[0]).map(([, c]) => c) }));
}

function tableSource(customer: Customer, t: TableInfo): RowSource {
  return {
    relation: `${pg.escapeIdentifier(customer.schema)}.${pg.escapeIdentifier(t.name)}`,
    columns: t.columns.map((c) => c.name),
    where: [],
    // Without a primary key the physical row id orders the pages (stable within a table that is
    // replaced whole, as result tables are); with one, pages follow the key.
    key: t.primaryKey.length > 0 ? t.primaryKey.map((c) => pg.escapeIdentifier(c)) : ['ctid'],
  };
}

export function accountRoutes(deps: AccountDeps): ApiRoute[] {
  const me = defineRoute(
    {
      method: 'get',
      path: '/v1/me',
      operationId: 'getMe',
      summary: 'The customer this API key belongs to',
      tags: ['account'],
      auth: true,
      responses: { 200: { description: 'You', content: { 'application/json': { schema: MeSchema } } } },
    },
    ({ res }) => {
      const c = customerOf(res);
      res.setHeader('Cache-Control', 'no-store');
      res.json({ id: c.id, name: c.name, schema: c.schema, created_at: c.createdAt });
    },
  );

  const tables = defineRoute(
    {
      method: 'get',
      path: '/v1/tables',
      operationId: 'listTables',
      summary: 'The tables of your own schema',
      tags: ['account'],
      auth: true,
      responses: { 200: { description: 'Your tables and their columns', content: { 'application/json': { schema: TableListSchema } } } },
    },
    async ({ res }) => {
      const customer = customerOf(res);
      const found = await withCustomerRole(deps.pool, customer, (client) => catalog(client, customer.schema));
      res.setHeader('Cache-Control', 'no-store');
      res.json({ schema: customer.schema, tables: found.map((t) => ({ name: t.name, columns: t.columns })) });
    },
  );

  const rows = defineRoute(
    {
      method: 'get',
      path: '/v1/tables/{name}',
      operationId: 'getTableRows',
      summary: 'Rows of one of your tables',
      description:
        'Only tables of your own schema exist here: any other name, qualified or not, is 404. JSON comes in keyset pages ' +
        '(follow `next`); `Accept: text/csv` or `application/x-ndjson` streams the whole table.',
      tags: ['account'],
      auth: true,
      negotiates: true,
      params: z.object({ name: TableName }),
      invalidPathIsNotFound: true,
      query: z.strictObject({ limit: pageLimit(deps.pageSize), cursor: Cursor.optional() }),
      responses: {
        200: {
          description: 'A page of rows, or every row streamed',
          content: {
            'application/json': { schema: TablePageSchema },
            [STREAM_CONTENT_TYPES.csv.split(';')[0] as string]: { schema: CsvSchema },
            [STREAM_CONTENT_TYPES.ndjson.split(';')[0] as string]: { schema: NdjsonSchema },
          },
        },
        404: problemResponse('No such table in your schema'),
      },
    },
    async ({ params, query, req, res }) => {
      const customer = customerOf(res);
      const format = chooseFormat(req);
      res.setHeader('Cache-Control', 'no-store');
      // Lookup and read share one transaction under the caller's role.
      const page = await withCustomerRole(deps.pool, customer, async (client) => {
        const [table] = await catalog(client, customer.schema, params.name);
        if (!table) throw notFound(`no table "${params.name}" in your schema`);
        const source = tableSource(customer, table);
        if (format !== 'json') {
          await streamRows(client, source, format, res, table.name);
          return undefined;
        }
        return { table, ...(await readPage(client, source, query.limit, query.cursor)) };
      });
      if (!page) return;
      res.json({
        table: page.table.name,
        columns: page.table.columns,
        rows: page.rows,
        next: page.next ? nextLink(req, { limit: query.limit }, page.next) : null,
      });
    },
  );
  return [me, tables, rows];
}
