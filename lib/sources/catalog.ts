/** Sources A and B: where their files come from and how they are curated. */
import type { Config } from '../config.ts';

export type FileSourceId = 'source_a' | 'source_b';

export interface FileSourceDef {
  readonly id: FileSourceId;
  readonly url: string;
  readonly pattern: string;
  readonly format: 'jsonl' | 'csv';
  /** A: curated day = raw day − lagDays. */
  readonly lagDays: number;
  /** B: column whose date picks the curated partition when present. */
  readonly timestampField?: string;
}

export const FILE_SOURCE_IDS: readonly FileSourceId[] = ['source_a', 'source_b'];

export function fileSource(config: Config, id: string): FileSourceDef {
  switch (id) {
    case 'source_a':
      return { id, url: config.sourceAUrl, pattern: config.sourceAPattern, format: 'jsonl', lagDays: config.sourceALagDays };
    case 'source_b':
      return { id, url: config.sourceBUrl, pattern: config.sourceBPattern, format: 'csv', lagDays: 0, timestampField: config.sourceBTimestampField };
    default:
      throw new Error(`unknown file source "${id}"; known: ${FILE_SOURCE_IDS.join(', ')}`);
  }
}
