/**
 * Custom search attributes that make runs findable in the Temporal UI
 * (e.g. `Source = "source_a" AND PartitionDay = "2021-10-01"`). Registered by
 * `lake infra up` on the dev server and by the test harness on its servers.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SOURCE = defineSearchAttributeKey('Source', SearchAttributeType.KEYWORD);
export const PARTITION_DAY = defineSearchAttributeKey('PartitionDay', SearchAttributeType.KEYWORD);
export const ZONE = defineSearchAttributeKey('Zone', SearchAttributeType.KEYWORD);
export const DATASET = defineSearchAttributeKey('Dataset', SearchAttributeType.KEYWORD);
export const ENGINE = defineSearchAttributeKey('Engine', SearchAttributeType.KEYWORD);
/** On `evaluateFreshness` runs: each late dataset as `<dataset>:<day>` (e.g. `FreshnessViolations = "curated.source_a:2024-05-10"`). */
export const FRESHNESS_VIOLATIONS = defineSearchAttributeKey('FreshnessViolations', SearchAttributeType.KEYWORD_LIST);

export const searchAttributeKeys = [SOURCE, PARTITION_DAY, ZONE, DATASET, ENGINE, FRESHNESS_VIOLATIONS] as const;

/** `--search-attribute Name=Type` arguments for `temporal server start-dev`. */
export function devServerSearchAttributeArgs(): string[] {
  return searchAttributeKeys.flatMap((k) => ['--search-attribute', `${k.name}=${cliType(k.type)}`]);
}

function cliType(type: SearchAttributeType): string {
  switch (type) {
    case SearchAttributeType.KEYWORD:
      return 'Keyword';
    case SearchAttributeType.TEXT:
      return 'Text';
    case SearchAttributeType.INT:
      return 'Int';
    case SearchAttributeType.DOUBLE:
      return 'Double';
    case SearchAttributeType.BOOL:
      return 'Bool';
    case SearchAttributeType.DATETIME:
      return 'Datetime';
    case SearchAttributeType.KEYWORD_LIST:
      return 'KeywordList';
  }
}

/** Set by Temporal on runs started by a schedule: the time the action was due, not when it ran. */
export const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);
