/**
 * Customers and their API keys. A key is shown once at creation; only its SHA-256 is
 * stored, and a presented key is compared with it in constant time. The key names its
 * customer (`tlk_<id>_<secret>`), so lookup is by id, not by a secret-dependent index.
 *
 * Each customer owns a schema and a NOLOGIN role: the API runs a customer's queries
 * after `SET LOCAL ROLE`, so isolation is the database's grants, not only the API's code.
 * Customer roles belong to CUSTOMERS_ROLE, which may read the serving schema and nothing
 * else of the platform's.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import pg from 'pg';
import { inPgTransaction } from '../clients/postgres.ts';
import { CUSTOMERS_ROLE } from '../infra/services/postgres.ts';
import { META_SCHEMA, SERVING_SCHEMA } from './tables.ts';

export interface Customer {
  readonly id: string;
  readonly name: string;
  /** Warehouse schema holding the customer's own tables. */
  readonly schema: string;
  /** Database role the customer's queries run under. */
  readonly role: string;
  readonly createdAt: string;
}

export class CustomerError extends Error {
  override name = 'CustomerError';
}

const KEY_PREFIX = 'tlk';
const KEY_RE = /^tlk_([a-z0-9_]{1,40})_([A-Za-z0-9_-]{43})$/;

type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

const CUSTOMERS = `${META_SCHEMA}.customers`;

export async function ensureCustomersTable(db: Queryable): Promise<void> {
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${META_SCHEMA}`);
  await db.query(`REVOKE ALL ON SCHEMA ${META_SCHEMA} FROM PUBLIC`);
  await db.query(`CREATE TABLE IF NOT EXISTS ${CUSTOMERS} (
    id text PRIMARY KEY, name text NOT NULL, key_sha256 bytea NOT NULL,
    schema_name text NOT NULL, role_name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
}

/** `Acme Corp.` → `acme_corp`: lower-case letters, digits and underscores, at most 40. */
export function customerIdFromName(name: string): string {
  const id = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 40)
    .replace(/_+$/, '');
  if (!id) throw new CustomerError(`customer name "${name}" has no letters or digits to make an id from`);
  return id;
}

export const customerSchema = (id: string): string => `customer_${id}`;
export const customerRole = (id: string): string => `tempolake_c_${id}`;

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Creates the customer, its schema and role, and returns its API key (the only time it
 * is visible). Everything happens in one transaction: a failure leaves no half customer.
 */
export async function createCustomer(pool: pg.Pool, name: string): Promise<{ customer: Customer; apiKey: string }> {
  const id = customerIdFromName(name);
  const schema = customerSchema(id);
  const role = customerRole(id);
  const apiKey = `${KEY_PREFIX}_${id}_${randomBytes(32).toString('base64url')}`;
  await ensureCustomersTable(pool);
  return inPgTransaction(pool, async (client) => {
    const exists = await client.query(`SELECT 1 FROM ${CUSTOMERS} WHERE id = $1`, [id]);
    if (exists.rowCount) throw new CustomerError(`customer "${id}" already exists`);
    const r = pg.escapeIdentifier(role);
    const roleExists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    if (!roleExists.rowCount) await client.query(`CREATE ROLE ${r} NOLOGIN IN ROLE ${pg.escapeIdentifier(CUSTOMERS_ROLE)}`);
    // The API's login switches into the role with SET ROLE, which needs membership (a no-op for a superuser).
    await client.query(`GRANT ${r} TO CURRENT_USER`);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)} AUTHORIZATION ${r}`);
    await client.query(`REVOKE ALL ON SCHEMA ${pg.escapeIdentifier(schema)} FROM PUBLIC`);
    const row = await client.query<{ created_at: Date }>(
      `INSERT INTO ${CUSTOMERS} (id, name, key_sha256, schema_name, role_name) VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
      [id, name, sha256(apiKey), schema, role],
    );
    return { customer: { id, name, schema, role, createdAt: (row.rows[0]?.created_at as Date).toISOString() }, apiKey };
  });
}

/** Replaces the customer's key with a new one (the old stops working at once) and returns it. */
export async function rotateCustomerKey(db: Queryable, id: string): Promise<string> {
  const apiKey = `${KEY_PREFIX}_${id}_${randomBytes(32).toString('base64url')}`;
  const r = await db.query(`UPDATE ${CUSTOMERS} SET key_sha256 = $2 WHERE id = $1`, [id, sha256(apiKey)]);
  if (r.rowCount === 0) throw new CustomerError(`no customer "${id}"`);
  return apiKey;
}

/** Grants every customer role read access to the serving schema (run by the warehouse's ensureSchema). */
export async function grantServingToCustomers(db: Queryable): Promise<void> {
  const group = pg.escapeIdentifier(CUSTOMERS_ROLE);
  await db.query(`GRANT USAGE ON SCHEMA ${SERVING_SCHEMA} TO ${group}`);
  await db.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${SERVING_SCHEMA} TO ${group}`);
  await db.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA ${SERVING_SCHEMA} GRANT SELECT ON TABLES TO ${group}`);
}

interface CustomerRow {
  id: string;
  name: string;
  key_sha256: Buffer;
  schema_name: string;
  role_name: string;
  created_at: Date;
}

/** The customer whose key this is, or undefined (unknown id, wrong secret or malformed key alike). */
export async function findCustomerByKey(db: Queryable, apiKey: string): Promise<Customer | undefined> {
  const m = KEY_RE.exec(apiKey);
  if (!m) return undefined;
  const { rows } = await db.query<CustomerRow>(`SELECT * FROM ${CUSTOMERS} WHERE id = $1`, [m[1]]);
  const row = rows[0];
  // Hash the presented key even for an unknown id so timing does not reveal which ids exist.
  const presented = sha256(apiKey);
  const stored = row?.key_sha256 ?? Buffer.alloc(presented.length);
  if (!timingSafeEqual(presented, stored) || !row) return undefined;
  return toCustomer(row);
}

export async function listCustomers(db: Queryable): Promise<Customer[]> {
  await ensureCustomersTable(db);
  const { rows } = await db.query<CustomerRow>(`SELECT * FROM ${CUSTOMERS} ORDER BY id`);
  return rows.map(toCustomer);
}

function toCustomer(row: CustomerRow): Customer {
  return { id: row.id, name: row.name, schema: row.schema_name, role: row.role_name, createdAt: row.created_at.toISOString() };
}

/**
 * Runs `work` in a read-only transaction under the customer's role: whatever `work`
 * queries, the database checks it against that role's grants.
 */
export async function withCustomerRole<T>(pool: pg.Pool, customer: Customer, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inPgTransaction(
    pool,
    async (client) => {
      await client.query(`SET LOCAL ROLE ${pg.escapeIdentifier(customer.role)}`);
      return work(client);
    },
    'BEGIN READ ONLY',
  );
}
