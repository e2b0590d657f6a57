/**
 * What identifies a model's process and this package: the canonical JSON of a value (keys sorted at every level,
 * no whitespace: RFC 8785's ordering for the plain JSON the pipeline is), its SHA-256, and the package's version.
 * A PNG's provenance names the pipeline by this digest, so a changed schedule, UNet or loss is seen as another model.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** JSON with object keys sorted (recursively) and no whitespace; undefined members are left out, as JSON does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    if (s === undefined) throw new Error(`canonicalJson: ${typeof value} has no JSON form`);
    return s;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.keys(value as object)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/** `sha256:<hex>` of the canonical JSON of a (checked) pipeline. */
export function pipelineDigest(pipeline: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(pipeline)).digest('hex')}`;
}

const PACKAGE_NAME = '@iddpm/node-red-iddpm';
let version: { name: string; version: string } | undefined;

/** This package's name and version, from the package.json above this file (sources and dist/ alike). */
export function packageInfo(): { name: string; version: string } {
  if (version) return version;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === PACKAGE_NAME && pkg.version) return (version = { name: pkg.name, version: pkg.version });
    }
    if (dirname(dir) === dir) return (version = { name: PACKAGE_NAME, version: '0.0.0' });
  }
}
