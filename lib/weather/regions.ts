/**
 * The regions every source shares: seeded from REGIONS_FILE (deploy/regions.json) and
 * extended by regions first seen in source D, in the Iceberg table operational.regions.
 * Weather is fetched for the regions that have coordinates.
 */
import { readFile } from 'node:fs/promises';
import { inLakeTransaction } from '../lake/publish.ts';
import { sqlString, type LakeSession } from '../lake/session.ts';
import { ensureTables, qualified } from '../lake/tables.ts';
import { OPERATIONAL_REGIONS } from './tables.ts';

export interface RegionSeed {
  readonly id: string;
  readonly name: string;
  readonly latitude: number;
  readonly longitude: number;
  readonly country?: string;
  readonly timezone?: string;
  /** Every other key of the seed entry. */
  readonly metadata: Record<string, unknown>;
}

/** A region weather can be fetched for. */
export interface Region {
  readonly id: string;
  readonly name: string;
  readonly latitude: number;
  readonly longitude: number;
}

export class RegionsFileError extends Error {
  override name = 'RegionsFileError';
}

const REGIONS = qualified(OPERATIONAL_REGIONS);

/** Reads and validates the seed file: `{ "regions": [{ id, name, latitude, longitude, …metadata }] }`. */
export async function readRegionsFile(file: string): Promise<RegionSeed[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new RegionsFileError(`cannot read regions from ${file}: ${(err as Error).message}`);
  }
  const list = (parsed as { regions?: unknown } | null)?.regions;
  if (!Array.isArray(list)) throw new RegionsFileError(`${file} must hold {"regions": [...]}`);
  const seen = new Set<string>();
  return list.map((entry: unknown, i) => {
    const { id, name, latitude, longitude, country, timezone, ...metadata } = (entry ?? {}) as Record<string, unknown>;
    const where = `${file}: regions[${i}]`;
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new RegionsFileError(`${where}.id must be a short [A-Za-z0-9_-] string`);
    if (seen.has(id)) throw new RegionsFileError(`${where}: region ${id} appears twice`);
    seen.add(id);
    if (typeof name !== 'string' || name === '') throw new RegionsFileError(`${where}.name must be a non-empty string`);
    if (typeof latitude !== 'number' || latitude < -90 || latitude > 90) throw new RegionsFileError(`${where}.latitude must be a number in [-90, 90]`);
    if (typeof longitude !== 'number' || longitude < -180 || longitude > 180) throw new RegionsFileError(`${where}.longitude must be a number in [-180, 180]`);
    return {
      id,
      name,
      latitude,
      longitude,
      ...(typeof country === 'string' ? { country } : {}),
      ...(typeof timezone === 'string' ? { timezone } : {}),
      metadata,
    };
  });
}

/**
 * Makes operational.regions hold every seed region as the file says (a region first seen
 * in source D gets its coordinates once the file names it), keeping first_seen. One commit;
 * a re-run with the same file changes nothing.
 */
export async function seedRegions(session: LakeSession, seeds: readonly RegionSeed[]): Promise<{ regions: number; changed: number }> {
  await ensureTables(session, [OPERATIONAL_REGIONS]);
  const values = seeds
    .map(
      (r) =>
        `(${sqlString(r.id)}, ${sqlString(r.name)}, ${r.latitude}, ${r.longitude}, ${r.country ? sqlString(r.country) : 'NULL'}, ` +
        `${r.timezone ? sqlString(r.timezone) : 'NULL'}, ${sqlString(JSON.stringify(r.metadata))})`,
    )
    .join(',\n');
  if (seeds.length === 0) return { regions: 0, changed: 0 };
  await session.run(`CREATE OR REPLACE TEMP TABLE region_seeds (region_id VARCHAR, name VARCHAR, latitude DOUBLE, longitude DOUBLE,
    country VARCHAR, timezone VARCHAR, metadata VARCHAR)`);
  await session.run(`INSERT INTO region_seeds VALUES ${values}`);
  // Only rows that differ are replaced: an unchanged file makes no snapshot at all.
  const changed = `SELECT s.* FROM region_seeds s LEFT JOIN ${REGIONS} r ON r.region_id = s.region_id
    WHERE r.region_id IS NULL OR r.origin <> 'config' OR r.name IS DISTINCT FROM s.name OR r.latitude IS DISTINCT FROM s.latitude
      OR r.longitude IS DISTINCT FROM s.longitude OR r.country IS DISTINCT FROM s.country OR r.timezone IS DISTINCT FROM s.timezone
      OR r.metadata IS DISTINCT FROM s.metadata`;
  await session.run(`CREATE OR REPLACE TEMP TABLE region_changes AS
    SELECT c.*, coalesce(r.first_seen, now()) AS first_seen FROM (${changed}) c LEFT JOIN ${REGIONS} r ON r.region_id = c.region_id`);
  const [count] = await session.rows<{ n: string }>('SELECT count(*) AS n FROM region_changes');
  const n = Number(count?.n ?? 0);
  if (n > 0) {
    await inLakeTransaction(session, REGIONS, async () => {
      await session.run(`DELETE FROM ${REGIONS} WHERE region_id IN (SELECT region_id FROM region_changes)`);
      await session.run(`INSERT INTO ${REGIONS} SELECT region_id, name, latitude, longitude, country, timezone, metadata, 'config', first_seen FROM region_changes`);
      return {};
    });
  }
  return { regions: seeds.length, changed: n };
}

/** Adds the ids not known yet, without coordinates (source D names regions it has no location for). */
export async function addRegionsSeen(session: LakeSession, ids: readonly string[], origin: string): Promise<{ added: string[] }> {
  await ensureTables(session, [OPERATIONAL_REGIONS]);
  if (ids.length === 0) return { added: [] };
  const known = new Set((await session.rows<{ region_id: string }>(`SELECT region_id FROM ${REGIONS}`)).map((r) => r.region_id));
  const added = [...new Set(ids)].filter((id) => !known.has(id)).sort();
  if (added.length === 0) return { added };
  await inLakeTransaction(session, REGIONS, async () => {
    // Checked again inside the transaction: a racing writer may have added some meanwhile.
    await session.run(`INSERT INTO ${REGIONS} SELECT id, id, NULL, NULL, NULL, NULL, '{}', ${sqlString(origin)}, now()
      FROM (SELECT unnest([${added.map(sqlString).join(', ')}]) AS id) WHERE id NOT IN (SELECT region_id FROM ${REGIONS})`);
    return {};
  });
  return { added };
}

/** Regions with coordinates, by id; all of them when `ids` is omitted. Unknown ids are an error. */
export async function listRegions(session: LakeSession, ids?: readonly string[]): Promise<Region[]> {
  await ensureTables(session, [OPERATIONAL_REGIONS]);
  const rows = await session.rows<{ region_id: string; name: string; latitude: number | null; longitude: number | null }>(
    `SELECT region_id, name, latitude, longitude FROM ${REGIONS} ORDER BY region_id`,
  );
  const byId = new Map(rows.map((r) => [r.region_id, r]));
  if (ids) {
    const unknown = ids.filter((id) => !byId.has(id));
    if (unknown.length > 0) throw new RegionsFileError(`unknown region${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (known: ${[...byId.keys()].join(', ') || 'none'})`);
  }
  return (ids ? ids.map((id) => byId.get(id)!) : rows)
    .filter((r) => r.latitude !== null && r.longitude !== null)
    .map((r) => ({ id: r.region_id, name: r.name, latitude: r.latitude as number, longitude: r.longitude as number }));
}
