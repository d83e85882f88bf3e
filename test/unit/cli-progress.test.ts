// The progress bar and byte sizes stewardctl shows while long work runs.
import { describe, expect, it } from 'vitest';
import { progressBar } from '../../cli/wait.js';
import { humanBytes } from '../../cli/commands/backup.js';

describe('stewardctl progress rendering', () => {
  it('draws a 20-cell bar clamped to 0..100', () => {
    expect(progressBar(0)).toBe(`[${'-'.repeat(20)}]`);
    expect(progressBar(50)).toBe(`[${'#'.repeat(10)}${'-'.repeat(10)}]`);
    expect(progressBar(100)).toBe(`[${'#'.repeat(20)}]`);
    expect(progressBar(250)).toBe(progressBar(100));
    expect(progressBar(-5)).toBe(progressBar(0));
  });

  it('prints sizes in binary units', () => {
    expect(humanBytes(0)).toBe('0 B');
    expect(humanBytes(1023)).toBe('1023 B');
    expect(humanBytes(1536)).toBe('1.5 KiB');
    expect(humanBytes(5 * 1024 ** 3)).toBe('5.0 GiB');
  });
});
