/** Every workflow type the workers register; the bundler starts from this file. */
export * from './smoke.ts';
export * from './file-ingest.ts';
export * from './scheduled.ts';
export * from './backfill.ts';
export * from './maintenance.ts';
export * from './weather.ts';
export * from './market.ts';
export * from './warehouse.ts';
export * from './analysis.ts';
export * from './upload.ts';
export * from './repair.ts';
export * from './freshness.ts';
