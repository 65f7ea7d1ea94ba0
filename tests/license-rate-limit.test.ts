import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, TEST_REDIS_URL } from './helpers/harness.ts';

// Both harnesses share one Redis prefix when Redis is configured, as two stateless nodes would.
const shared = {
  CLOUDSECURE_LICENSE_RATE_LIMIT_PER_MINUTE: '5',
  CLOUDSECURE_REDIS_PREFIX: `rl-${Date.now()}:`,
};

let a: Harness;
let b: Harness;
beforeAll(async () => {
  a = await createHarness(shared);
  b = await createHarness({ ...shared, CLOUDSECURE_MASTER_KEY: a.env.CLOUDSECURE_MASTER_KEY! });
});
afterAll(async () => {
  await a.close();
  await b.close();
});

function validate(h: Harness, key: string): Promise<Response> {
  return fetch(`${h.url}/api/v1/licenses/validate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key, product: 'any' }),
  });
}

async function freshMinute(): Promise<void> {
  // The limiter counts per clock minute; start near the beginning of one so the burst fits in it.
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 15_000) await new Promise((r) => setTimeout(r, left + 50));
}

describe('license API rate limits', () => {
  it('refuses a client IP past its allowance with 429 RATE_LIMITED, Retry-After and a signed body', async () => {
    await freshMinute();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await validate(a, `GUESS-${i}-${Date.now()}`)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const refused = await validate(a, 'GUESS-again');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('cloudsecure-signature')).toMatch(/^ed25519=/);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
  });

  it.skipIf(!TEST_REDIS_URL)('shares the allowance across nodes through Redis', async () => {
    // `a` used up this IP's allowance in the previous test; node `b` sees the same count.
    const res = await validate(b, 'GUESS-on-b');
    expect(res.status).toBe(429);
  });
});

describe('EDD endpoint rate limits', () => {
  it('answers 429 with Retry-After once a key is used past its allowance', async () => {
    await freshMinute();
    const key = `EDD-HAMMERED-${Date.now()}`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      const res = await fetch(`${b.url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          edd_action: 'check_license',
          license: key,
          item_id: '1',
          url: 'https://x.example.org',
        }),
      });
      statuses.push(res.status);
      if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    expect(statuses.at(-1)).toBe(429);
  });
});
