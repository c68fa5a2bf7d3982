// The Gateway API CRDs of the release switchyard supports (src/objects/gateway-types.ts
// GATEWAY_API_VERSION), taken from the sigs.k8s.io/gateway-api Go module with the Go toolchain
// (`go mod download`, module cache under ~/.cache/switchyard/gomod), never committed. The
// Standard channel's CRDs for the kinds the router reads.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { GATEWAY_API_VERSION } from '../../src/objects/gateway-types.ts';

const KINDS = ['gatewayclasses', 'gateways', 'httproutes', 'grpcroutes', 'tlsroutes', 'tcproutes', 'udproutes', 'referencegrants', 'backendtlspolicies'];

/**
 * Paths of the standard-channel CRD files (the kinds the router reads, or with `all` every file
 * of standard-install.yaml); throws one line saying what is missing (never a silent skip).
 */
export function gatewayCrdFiles(version = GATEWAY_API_VERSION, options: { all?: boolean } = {}): string[] {
  const cache = process.env['SWITCHYARD_K8S_CACHE'] || path.join(homedir(), '.cache/switchyard');
  const r = spawnSync('go', ['mod', 'download', '-json', `sigs.k8s.io/gateway-api@${version}`], {
    encoding: 'utf8', timeout: 300_000,
    env: { ...process.env, GOMODCACHE: path.join(cache, 'gomod'), GOFLAGS: '-modcacherw', GO111MODULE: 'on' },
  });
  if (r.error || r.status !== 0) {
    throw new Error(`gateway CRDs: \`go mod download sigs.k8s.io/gateway-api@${version}\` failed (needs Go and the module proxy): ${r.stderr || r.error?.message}`);
  }
  const dir = (JSON.parse(r.stdout) as { Dir?: string }).Dir;
  if (!dir) throw new Error(`gateway CRDs: go mod download gave no module directory for ${version}`);
  const standard = path.join(dir, 'config/crd/standard');
  const files = options.all
    ? readdirSync(standard).filter((f) => f.endsWith('.yaml')).sort().map((f) => path.join(standard, f))
    : KINDS.map((k) => path.join(standard, `gateway.networking.k8s.io_${k}.yaml`));
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0) throw new Error(`gateway CRDs: ${missing.join(', ')} not in the module`);
  return files;
}
