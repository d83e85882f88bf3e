// Files Steward reads at run time (proto definitions, the notification schema,
// worker scripts). From a source checkout they are where they are in the
// tree; in a build (scripts/build.mjs) they are copied under assets/ beside
// the bundle, which the build marks by defining STEWARD_BUNDLE.
declare const STEWARD_BUNDLE: boolean | undefined;

const bundled = typeof STEWARD_BUNDLE !== 'undefined' && STEWARD_BUNDLE;

/** The URL of a shipped file named by its path in the source tree ("proto/steward/v1/api.proto"). */
export function assetUrl(sourcePath: string): URL {
  return bundled ? new URL(`./assets/${sourcePath}`, import.meta.url) : new URL(`../../${sourcePath}`, import.meta.url);
}

/** True when running from a build rather than from TypeScript sources. */
export const isBundled = (): boolean => bundled;
