// Steward's version: fixed into a build by scripts/build.mjs, read from
// package.json in a source checkout.
import { readFileSync } from 'node:fs';
import { assetUrl } from './assets.js';

export const STEWARD_VERSION: string =
  process.env.STEWARD_VERSION ?? (JSON.parse(readFileSync(assetUrl('package.json'), 'utf8')) as { version: string }).version;
