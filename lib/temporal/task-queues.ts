/** Task queues per concern, so worker pools for each scale apart. */
export const TASK_QUEUES = {
  ingest: 'tempolake-ingest',
  process: 'tempolake-process',
  analysis: 'tempolake-analysis',
} as const;

export type QueueRole = keyof typeof TASK_QUEUES;
