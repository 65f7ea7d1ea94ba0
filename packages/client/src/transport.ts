import { LicenseClientError } from './errors.ts';

/** The part of `fetch` the client uses; the global fetch (Node ≥ 18, Electron main) fits it. */
export type FetchLike = (
  url: string,
  init: {
    method: 'POST';
    headers: Record<string, string>;
    body: string;
    redirect: 'manual';
    signal: AbortSignal;
  },
) => Promise<{
  status: number;
  headers: { get(name: string): string | null };
  arrayBuffer(): Promise<ArrayBuffer>;
}>;

export interface RawAnswer {
  status: number;
  /** The exact bytes received: what the signature covers. */
  body: Uint8Array;
  signatureHeader: string | null;
}

/**
 * A deliberately generic User-Agent: it names this library, not the app, its version, the OS or the
 * user (the privacy policy promises the server learns only key, product, site or fingerprint, version).
 */
export const USER_AGENT = 'cloudsecure-client';

/** POSTs a body; a network error or timeout becomes SERVER_UNREACHABLE, any HTTP answer is returned. */
export async function post(
  fetchFn: FetchLike,
  url: string,
  request: { body: string; contentType: string; timeoutMs: number; signatureHeader?: string },
): Promise<RawAnswer> {
  try {
    const res = await fetchFn(url, {
      method: 'POST',
      headers: { 'content-type': request.contentType, accept: 'application/json', 'user-agent': USER_AGENT },
      body: request.body,
      // A redirect would re-send the key to wherever it points; the configured server URL must be final.
      redirect: 'manual',
      signal: AbortSignal.timeout(request.timeoutMs),
    });
    const body = new Uint8Array(await res.arrayBuffer());
    const signatureHeader = request.signatureHeader ? res.headers.get(request.signatureHeader) : null;
    return { status: res.status, body, signatureHeader };
  } catch (cause) {
    throw new LicenseClientError('SERVER_UNREACHABLE', `The license server at ${url} did not answer.`, {
      cause,
    });
  }
}

/** 5xx and 429 mean the server cannot answer now: like a network error, the cache may stand in. */
export function isUnavailable(status: number): boolean {
  return status >= 500 || status === 429;
}
