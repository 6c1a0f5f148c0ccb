/** All activities of the platform, built from one set of clients. */
import { createCatalogActivities } from '../activities/catalog.ts';
import { createCurateActivities } from '../activities/curate.ts';
import { createFileIngestActivities } from '../activities/file-ingest.ts';
import { createMaintenanceActivities } from '../activities/maintenance.ts';
import { createMarketActivities } from '../activities/market.ts';
import { createSmokeActivities } from '../activities/smoke.ts';
import { createAnalysisActivities } from '../activities/analysis.ts';
import { createUploadActivities } from '../activities/upload.ts';
import { createWarehouseActivities } from '../activities/warehouse.ts';
import { createWeatherActivities } from '../activities/weather.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import type { WorkerDeps } from './deps.ts';

export function createActivities(deps: WorkerDeps) {
  const spark = { config: deps.config, kube: () => deps.kube(), openLake: () => openLakeSession(deps.config) };
  return {
    ...createSmokeActivities({ s3: deps.s3, bucket: deps.config.s3Bucket, kafka: deps.kafka, pg: deps.pg }),
    ...createFileIngestActivities({ config: deps.config, store: deps.store }),
    ...createCurateActivities({ config: deps.config, store: deps.store, spark }),
    ...createMaintenanceActivities({ config: deps.config, spark }),
    ...createMarketActivities({ config: deps.config, store: deps.store, kafka: deps.kafka, producer: () => deps.kafkaProducer(), spark }),
    ...createWeatherActivities({ config: deps.config, store: deps.store, weather: deps.weather, spark }),
    ...createWarehouseActivities({ warehouse: () => deps.warehouse(), openLake: () => openLakeSession(deps.config) }),
    ...createAnalysisActivities({ config: deps.config, warehouse: () => deps.warehouse(), openLake: () => openLakeSession(deps.config), spark }),
    ...createCatalogActivities({ config: deps.config, store: deps.store, openSession: () => openLakeSession(deps.config) }),
    ...createUploadActivities({ store: deps.store, warehouse: () => deps.warehouse(), openLake: () => openLakeSession(deps.config) }),
  };
}
