import { describe, expect, it } from 'vitest';
import { createUUIDv7Generator } from './ids.ts';

describe('createUUIDv7Generator', () => {
  it('makes version-7 UUIDs that sort in creation order within one millisecond', () => {
    const next = createUUIDv7Generator(() => 1_700_000_000_000);
    const ids = Array.from({ length: 5000 }, next);
    expect(ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('never goes backwards when the clock does', () => {
    let t = 2_000_000_000_000;
    const next = createUUIDv7Generator(() => t);
    const a = next();
    t -= 10_000;
    expect(next() > a).toBe(true);
  });
});
