// Retry delays for a sink that failed: exponential, capped, with jitter so
// that many events failing together do not retry in lock-step.
export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
}

/** Delay before attempt `attempts + 1`, after `attempts` (>= 1) failures: between half and all of the ceiling. */
export function retryDelay(attempts: number, p: RetryPolicy, random = Math.random): number {
  const ceiling = Math.min(p.maxMs, p.initialMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
