// Prints the suite's closing line ("tests: N passed, N failed, N skipped") from
// vitest's JSON report; a failed type check and a failed format/lint check
// each count as one failed test.
import { readFileSync } from 'node:fs';

const [file, typecheckFailed, lintFailed] = process.argv.slice(2);
let passed = 0,
  failed = Number(typecheckFailed === '1') + Number(lintFailed === '1'),
  skipped = 0;
try {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  passed = r.numPassedTests;
  // A file that fails before any test runs (import error, failing hook) has no
  // failed test of its own: count it once so it cannot pass unnoticed.
  const brokenFiles = (r.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')).length;
  failed += r.numFailedTests + brokenFiles;
  skipped = r.numPendingTests + (r.numTodoTests ?? 0);
} catch (err) {
  failed += 1;
  console.error(`no test report: ${err.message}`);
}
if (typecheckFailed === '1') console.log('type check failed (counted as one failed test)');
if (lintFailed === '1') console.log('format or lint check failed: run `npx biome check --write .` (counted as one failed test)');
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
