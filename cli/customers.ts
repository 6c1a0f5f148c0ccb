/** `lake customers create <name> | list`: customers, their warehouse schemas and API keys. */
import type { Config } from '../lib/config.ts';
import { parseArgs, UsageError } from '../lib/cli/args.ts';
import { createPostgresPool } from '../lib/clients/postgres.ts';
import { createCustomer, CustomerError, listCustomers } from '../lib/warehouse/customers.ts';
import { ensurePostgresSchema } from '../lib/warehouse/postgres-schema.ts';

const USAGE = `usage: lake customers create <name>   a customer with its own schema, role and API key
       lake customers list`;

export async function customersCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const [action, ...rest] = args.positional;
  if (args.flags.size > 0) throw new UsageError(USAGE);
  const pool = createPostgresPool(config);
  try {
    switch (action) {
      case 'create': {
        const name = rest.join(' ').trim();
        if (!name) throw new UsageError(USAGE);
        // The serving grants for customer roles come with the schema.
        await ensurePostgresSchema(pool);
        const { customer, apiKey } = await createCustomer(pool, name);
        console.log(`customer ${customer.id} ("${customer.name}"), schema ${customer.schema}, role ${customer.role}`);
        console.log(`API key: ${apiKey}`);
        console.log('This key is shown only this time (only its hash is stored): keep it now.');
        return 0;
      }
      case 'list': {
        if (rest.length > 0) throw new UsageError(USAGE);
        const customers = await listCustomers(pool);
        if (customers.length === 0) console.log('no customers yet: lake customers create <name>');
        for (const c of customers) console.log(`${c.id.padEnd(24)} ${c.schema.padEnd(34)} ${c.createdAt}  ${c.name}`);
        return 0;
      }
      default:
        throw new UsageError(USAGE);
    }
  } catch (err) {
    if (err instanceof CustomerError) {
      console.error(`lake: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await pool.end();
  }
}
