// Small statistics helpers for benchmarks: medians and percentiles, never means
// alone (shared machines are noisy).
export function summarize(samples: number[]): { n: number; p50: number; p90: number; p99: number; min: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), min: s[0] };
}

export async function timeEach(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

export const ms = (v: number): string => `${v.toFixed(2)} ms`;
export const ratio = (a: number, b: number): string => `${(a / b).toFixed(1)}x`;
