/** The S3 client every module shares: MinIO locally, AWS S3 in production. */
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config.ts';

// This SDK version supports Node 20 (pinned in package.json); its notice about future
// versions needing Node 22 would otherwise print on every command.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

export function createS3Client(config: Config): S3Client {
  return new S3Client({
    endpoint: config.s3Endpoint.toString(),
    region: config.s3Region,
    credentials: { accessKeyId: config.s3AccessKeyId, secretAccessKey: config.s3SecretAccessKey },
    // MinIO serves buckets by path, not by virtual host.
    forcePathStyle: true,
  });
}

/** Creates the bucket unless it exists; safe to call on every start. */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status !== 404) throw err;
  }
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    // Another process created it between the HEAD and the CREATE.
    if ((err as Error).name !== 'BucketAlreadyOwnedByYou') throw err;
  }
}
