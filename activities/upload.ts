/**
 * Case 4's activities: publish an uploaded file as the customer's Iceberg table, load it
 * into the customer's warehouse schema, and remove both. A file that cannot be published
 * fails non-retryably as `InvalidUpload`, its details the bad rows with their line numbers.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { withHeartbeats } from './heartbeats.ts';
import { personalNamespace } from '../lib/analysis/compute.ts';
import type { LakeSession } from '../lib/lake/session.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { dropUploadTable, InvalidUploadError, publishUpload } from '../lib/uploads/publish-upload.ts';
import { customerRole, customerSchema } from '../lib/warehouse/customers.ts';
import type { LoadResult, Warehouse } from '../lib/warehouse/warehouse.ts';
import type { UploadInput, UploadResult } from '../workflows/upload.ts';

export interface UploadActivityDeps {
  readonly store: ObjectStore;
  readonly warehouse: () => Warehouse;
  readonly openLake: () => Promise<LakeSession>;
}

export function createUploadActivities(deps: UploadActivityDeps) {
  return {
    async publishUpload(input: UploadInput): Promise<UploadResult> {
      const session = await deps.openLake();
      try {
        const published = await withHeartbeats(() => publishUpload(session, {
          namespace: personalNamespace(input.customerId),
          name: input.name,
          location: deps.store.locationOf(input.key),
          format: input.format,
        }));
        return { name: input.name, ...published };
      } catch (err) {
        if (err instanceof InvalidUploadError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidUpload', err.problems);
        throw err;
      } finally {
        session.close();
      }
    },

    async loadUpload(input: { customerId: string; name: string; loadId: string }): Promise<LoadResult> {
      return withHeartbeats((onProgress) => deps.warehouse().replaceTable({
        source: { namespace: personalNamespace(input.customerId), name: input.name },
        schema: customerSchema(input.customerId),
        table: input.name,
        readerRole: customerRole(input.customerId),
        loadId: input.loadId,
        onProgress,
      }));
    },

    async dropUpload(input: { customerId: string; name: string }): Promise<void> {
      await deps.warehouse().dropTable(customerSchema(input.customerId), input.name);
      const session = await deps.openLake();
      try {
        await dropUploadTable(session, { namespace: personalNamespace(input.customerId), name: input.name });
      } finally {
        session.close();
      }
    },
  };
}

export type UploadActivities = ReturnType<typeof createUploadActivities>;
