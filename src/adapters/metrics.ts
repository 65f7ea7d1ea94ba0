import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** Prometheus metrics on a registry of our own (no global default registry). */
export interface Metrics {
  readonly registry: Registry;
  /** One HTTP request, by route pattern (never the raw path: link tokens are secrets). */
  observeRequest(labels: { method: string; route: string; status: number }, seconds: number): void;
  /** One download attempt's outcome: completed, aborted, redirected, or a refusal code. */
  countDownload(outcome: string): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cloudsecure_' });
  const requests = new Histogram({
    name: 'cloudsecure_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  const downloads = new Counter({
    name: 'cloudsecure_downloads_total',
    help: 'Download attempts by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  return {
    registry,
    observeRequest: ({ method, route, status }, seconds) =>
      requests.observe({ method, route, status: String(status) }, seconds),
    countDownload: (outcome) => downloads.inc({ outcome }),
  };
}
