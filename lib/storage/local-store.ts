/**
 * The object store on local disk, the embedded default. Every write lands in a temp
 * file under `<root>/.tmp/` first, is fsynced, then appears under its key in one step:
 * link() for create-once (the kernel refuses an existing name, so exactly one racer
 * wins) and rename() for overwrites. A crash leaves at most a stray temp file.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, readdirSync, statSync, type Dirent } from 'node:fs';
import { link, mkdir, open, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';

const NON_ASCII = /[^\x00-\x7f]/;
import {
  assertValidKey,
  assertValidPrefix,
  ContentLengthMismatchError,
  InvalidKeyError,
  ObjectNotFoundError,
  RESERVED_TOP_SEGMENT,
  type ObjectBody,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.ts';

/** An object store over the folder `rootDir` (created on first write). */
export function createLocalStore(rootDir: string): ObjectStore {
  const root = path.resolve(rootDir);
  const tempDir = path.join(root, RESERVED_TOP_SEGMENT);

  function pathOf(key: string): string {
    assertValidKey(key);
    return path.join(root, ...key.split('/'));
  }

  /** Writes the whole body to a fresh temp file and fsyncs it; the caller moves or removes it. */
  async function writeTemp(body: ObjectBody, opts: PutOptions | undefined): Promise<string> {
    await mkdir(tempDir, { recursive: true });
    const temp = path.join(tempDir, randomUUID());
    try {
      let written = 0;
      if (typeof body === 'string' || Buffer.isBuffer(body)) {
        const bytes = typeof body === 'string' ? Buffer.from(body) : body;
        await writeFile(temp, bytes, { flag: 'wx' });
        written = bytes.length;
      } else {
        await pipeline(
          body,
          async function* count(source: AsyncIterable<Buffer | string>) {
            for await (const chunk of source) {
              const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
              written += bytes.length;
              yield bytes;
            }
          },
          createWriteStream(temp, { flags: 'wx' }),
        );
      }
      if (opts?.contentLength !== undefined && written !== opts.contentLength) {
        throw new ContentLengthMismatchError(`body had ${written} bytes, contentLength said ${opts.contentLength}`);
      }
      await fsyncPath(temp);
      return temp;
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** Makes the key's folder, naming the key when a file already sits where a folder must go. */
  async function makeParent(key: string, target: string): Promise<void> {
    try {
      await mkdir(path.dirname(target), { recursive: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOTDIR' || errnoCode(err) === 'EEXIST') throw folderConflict(key, 'a prefix of it is an object');
      throw err;
    }
  }

  /**
   * The keys under `prefix` in S3's order (UTF-8 bytes). One recursive read, no stat per file:
   * a catalog lists tens of thousands. Synchronous on purpose: 8x faster than the async form
   * here (35 ms for 16,000 entries, vs 270 ms).
   */
  function sortedKeys(prefix: string): string[] {
    assertValidPrefix(prefix);
    const cut = prefix.lastIndexOf('/') + 1;
    const folderKey = prefix.slice(0, cut);
    const folder = path.join(root, ...folderKey.split('/').filter(Boolean));
    let entries: Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true, recursive: true });
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    const keys: string[] = [];
    let ascii = true;
    for (const e of entries) {
      if (!e.isFile()) continue;
      // parentPath is `folder` or below it: the key is the rest of it, by slicing (no path.relative per file).
      const parent = e.parentPath ?? e.path;
      const sub = parent.length > folder.length ? `${parent.slice(folder.length + 1).split(path.sep).join('/')}/` : '';
      const rel = `${sub}${e.name}`;
      const key = `${folderKey}${rel}`;
      if (key.startsWith(prefix) && !(folderKey === '' && rel.startsWith(`${RESERVED_TOP_SEGMENT}/`))) {
        keys.push(key);
        ascii &&= !NON_ASCII.test(key);
      }
    }
    // For ASCII keys the bytes' order is the strings' own; otherwise each key is encoded once, not once per comparison.
    if (ascii) return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return keys
      .map((k) => ({ k, b: Buffer.from(k) }))
      .sort((x, y) => Buffer.compare(x.b, y.b))
      .map((x) => x.k);
  }

  const store: ObjectStore = {
    kind: 'local',
    rootUri: pathToFileURL(root).href,

    async putIfAbsent(key, body, opts) {
      const target = pathOf(key);
      // Cheap early answer; the link() below is what decides a race.
      if (await isFile(target)) {
        discard(body);
        return { created: false };
      }
      const temp = await writeTemp(body, opts);
      try {
        await makeParent(key, target);
        try {
          await link(temp, target);
        } catch (err) {
          if (errnoCode(err) !== 'EEXIST') throw err;
          if (!(await isFile(target))) throw folderConflict(key, 'other keys live under it');
          return { created: false };
        }
        await fsyncPath(path.dirname(target));
        return { created: true };
      } finally {
        await rm(temp, { force: true });
      }
    },

    async put(key, body, opts) {
      const target = pathOf(key);
      const temp = await writeTemp(body, opts);
      try {
        await makeParent(key, target);
        try {
          await rename(temp, target);
        } catch (err) {
          if (errnoCode(err) === 'EISDIR' || errnoCode(err) === 'ENOTEMPTY') throw folderConflict(key, 'other keys live under it');
          throw err;
        }
        await fsyncPath(path.dirname(target));
      } finally {
        await rm(temp, { force: true });
      }
    },

    async get(key) {
      const target = pathOf(key);
      let handle;
      try {
        handle = await open(target, 'r');
      } catch (err) {
        if (isMissing(err)) throw new ObjectNotFoundError(key);
        throw err;
      }
      // open() succeeds on a folder on Linux; a folder is not an object.
      if (!(await handle.stat()).isFile()) {
        await handle.close();
        throw new ObjectNotFoundError(key);
      }
      return handle.createReadStream();
    },

    async head(key) {
      const target = pathOf(key);
      try {
        const s = await stat(target);
        return s.isFile() ? ({ size: s.size, lastModified: s.mtime } satisfies ObjectInfo) : undefined;
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },

    async *list(prefix) {
      for (const key of sortedKeys(prefix)) {
        try {
          yield { key, size: statSync(pathOf(key)).size };
        } catch (err) {
          if (!isMissing(err)) throw err; // deleted while we listed
        }
      }
    },

    async *listKeys(prefix) {
      yield* sortedKeys(prefix);
    },

    async delete(key) {
      const target = pathOf(key);
      try {
        await unlink(target);
      } catch (err) {
        // A folder at `key` is not an object, so there is nothing to delete either.
        if (isMissing(err) || errnoCode(err) === 'EISDIR' || errnoCode(err) === 'EPERM') return;
        throw err;
      }
    },

    locationOf(key) {
      return pathOf(key);
    },
  };
  return store;
}

async function isFile(target: string): Promise<boolean> {
  try {
    return (await stat(target)).isFile();
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/** fsync of a file (its bytes) or a folder (a new link or rename in it); fsync acts on the inode, so any descriptor does. */
async function fsyncPath(target: string): Promise<void> {
  const handle = await open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A body we will not read: release the stream's resources (an open file, a socket). */
function discard(body: ObjectBody): void {
  if (typeof body !== 'string' && !Buffer.isBuffer(body)) body.destroy();
}

function folderConflict(key: string, why: string): InvalidKeyError {
  return new InvalidKeyError(`key "${key}" cannot be stored on disk: ${why} (on disk a name is either a file or a folder)`);
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function isMissing(err: unknown): boolean {
  return errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR';
}
