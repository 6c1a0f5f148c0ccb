/** Picks the lake's object store: a local folder (the embedded default) or an S3 bucket. */
import type { S3Client } from '@aws-sdk/client-s3';
import { createLocalStore } from './local-store.ts';
import type { ObjectStore } from './object-store.ts';
import { createS3Store } from './s3-store.ts';

export type ObjectStoreOptions =
  | { kind: 'local'; root: string }
  | { kind: 's3'; s3: S3Client; bucket: string; prefix?: string };

/** The object store `opts` describes; an S3 store uses the caller's client and does not destroy it. */
export function createObjectStore(opts: ObjectStoreOptions): ObjectStore {
  switch (opts.kind) {
    case 'local':
      return createLocalStore(opts.root);
    case 's3':
      return createS3Store({ s3: opts.s3, bucket: opts.bucket, prefix: opts.prefix });
  }
}

export { createLocalStore } from './local-store.ts';
export { createS3Store, type S3StoreOptions } from './s3-store.ts';
export {
  assertValidKey,
  ContentLengthMismatchError,
  InvalidKeyError,
  ObjectNotFoundError,
  type ObjectBody,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.ts';
