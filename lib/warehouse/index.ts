/** The configured warehouse: PostgreSQL (WAREHOUSE=postgres, the default) or Redshift through the Data API. */
import path from 'node:path';
import type pg from 'pg';
import type { Config } from '../config.ts';
import type { LakeSession } from '../lake/session.ts';
import { createPostgresWarehouse } from './postgres-warehouse.ts';
import type { Warehouse } from './warehouse.ts';

export interface WarehouseClients {
  readonly pool: pg.Pool;
  readonly openLake: () => Promise<LakeSession>;
}

export async function createWarehouse(config: Config, clients: WarehouseClients): Promise<Warehouse> {
  if (config.warehouse === 'redshift') {
    // Loaded only when chosen: the AWS SDK's Redshift client is not needed otherwise.
    const { createRedshiftWarehouse } = await import('./redshift/data-api-warehouse.ts');
    return createRedshiftWarehouse(config);
  }
  return createPostgresWarehouse({ pool: clients.pool, openLake: clients.openLake, tmpDir: path.join(config.dataDir, 'tmp', 'warehouse') });
}
