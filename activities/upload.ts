/** Case 4's activities (implementation in progress; these signatures are the contract). */
import type { LoadResult } from '../lib/warehouse/warehouse.ts';
import type { UploadInput, UploadResult } from '../workflows/upload.ts';

export function createUploadActivities(_deps: { readonly placeholder?: never }) {
  return {
    async publishUpload(_input: UploadInput): Promise<UploadResult> {
      throw new Error('not yet');
    },
    async loadUpload(_input: { customerId: string; name: string; loadId: string }): Promise<LoadResult> {
      throw new Error('not yet');
    },
    async dropUpload(_input: { customerId: string; name: string }): Promise<void> {
      throw new Error('not yet');
    },
  };
}

export type UploadActivities = ReturnType<typeof createUploadActivities>;
