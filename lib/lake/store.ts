/** The lake's object store as configured: a local folder (embedded default) or the S3 bucket. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config.ts';
import { createObjectStore } from '../storage/index.ts';
import type { ObjectStore } from '../storage/object-store.ts';

export function createLakeStore(config: Config, s3: S3Client): ObjectStore {
  return config.lakeStorage === 's3'
    ? createObjectStore({ kind: 's3', s3, bucket: config.s3Bucket, prefix: config.lakeS3Prefix })
    : createObjectStore({ kind: 'local', root: config.lakeLocalRoot });
}
