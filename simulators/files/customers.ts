/**
 * The simulated customer base shared by sources A and B, so activity events (A) join the
 * reference extract (B) the way case 4's analyses expect: customer `c0000042` has the same
 * home region in both, whatever seed either file was generated with.
 */
import { stableHash } from './seeded-random.ts';

/** The ~20 region ids both sources use (and the weather and market simulators can share). */
export const REGION_IDS: readonly string[] = Array.from({ length: 20 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`);

/** Currency of each region, by index into REGION_IDS. */
export const REGION_CURRENCIES: readonly string[] = REGION_IDS.map((_, i) =>
  i < 8 ? 'EUR' : i < 13 ? 'USD' : i < 16 ? 'GBP' : i < 18 ? 'CHF' : 'SEK',
);

/** `c0000042`: fixed width so ids sort the way they were numbered. */
export function customerId(n: number): string {
  return `c${String(n).padStart(7, '0')}`;
}

/** Index into REGION_IDS of customer `n`'s home region: a hash of the number alone, no seed. */
export function customerRegionIndex(n: number): number {
  return stableHash(`customer:${n}`) % REGION_IDS.length;
}
