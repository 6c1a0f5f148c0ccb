/**
 * How the API turns PostgreSQL values into JSON: numbers as numbers (pg returns bigint and
 * numeric as strings), DATE as the YYYY-MM-DD it stores (pg's default makes a local-time
 * Date, which shifts the day in any zone west of UTC), timestamps as ISO-8601 strings.
 * Passed per query, so pg's process-wide parsers stay as other modules expect them.
 */
import pg from 'pg';

const { builtins } = pg.types;

function int8(raw: string): number | string {
  const n = Number(raw);
  // Beyond 2^53 a JSON number would silently change the value: keep the exact text.
  return Number.isSafeInteger(n) ? n : raw;
}

function numeric(raw: string): number | string {
  const n = Number(raw);
  return Number.isFinite(n) ? n : raw;
}

const defaultTimestamptz = pg.types.getTypeParser(builtins.TIMESTAMPTZ, 'text') as (raw: string) => unknown;

function timestamptz(raw: string): string {
  const d = defaultTimestamptz(raw);
  return d instanceof Date && !Number.isNaN(d.getTime()) ? d.toISOString() : raw;
}

const identity = (raw: string): string => raw;

export const API_PG_TYPES = {
  getTypeParser(oid: number, format: 'text' | 'binary' = 'text'): (raw: string) => unknown {
    if (format === 'text') {
      switch (oid) {
        case builtins.INT8:
          return int8;
        case builtins.NUMERIC:
          return numeric;
        case builtins.DATE:
          return identity;
        case builtins.TIMESTAMPTZ:
          return timestamptz;
        // Without a zone the value means nothing more than its text; ISO's separator only.
        case builtins.TIMESTAMP:
          return (raw) => raw.replace(' ', 'T');
      }
    }
    return pg.types.getTypeParser(oid, format) as (raw: string) => unknown;
  },
};

type Queryable = Pick<pg.ClientBase, 'query'> | Pick<pg.Pool, 'query'>;

/** A parameterised query whose rows use the API's value conversions. */
export async function apiQuery<R extends pg.QueryResultRow>(db: Queryable, text: string, values: unknown[] = []): Promise<R[]> {
  const result = await db.query<R>({ text, values, types: API_PG_TYPES });
  return result.rows;
}
