// `npm run conformance:gateway`: the upstream Gateway API conformance suite
// (sigs.k8s.io/gateway-api/conformance v1.6.3, profiles GATEWAY-HTTP, GATEWAY-GRPC, GATEWAY-TLS, GATEWAY-TCP and GATEWAY-UDP) against switchyard on a real
// control plane: etcd + kube-apiserver + kube-controller-manager (test/support/real-apiserver.ts,
// with the workload controllers), the test node (test/k8s/node: the suite's echo-basic pods in
// network namespaces of their own, their logs served to the API server as a kubelet does), the standard-channel CRDs of v1.6.3, a GatewayClass for
// switchyard.io/gateway-controller, and the router (dist/cli.js, cluster source, under the RBAC of
// manifests/base) with an address pool of 127.0.10.0/24 so that every Gateway gets an address of
// its own. Then the suite's test binary (test/tools/gateway-conformance) runs TestConformance with
// the features the router claims (src/gateway/supported-features.ts) and writes its report.
//
// Exits 0 only when the suite passes. The report goes to
// conformance/reports/v1.6.3/switchyard/standard-<version>-default-report.yaml (commit it when it
// changes); everything else (cluster, logs) lives in a temp dir, removed at the end unless
// SWITCHYARD_CONFORMANCE_KEEP=1. Pass `--run-test <ShortName>` to run one test, `--run-tests <regexp>` to run
// those whose ShortName matches (`--run-tests '^ListenerSet'`). `--shared-ports`
// checks the router without an address pool instead (Gateways on its ports 80 and 443 of
// 127.0.0.1, the features it claims then, and the core tests that mode cannot pass skipped; no
// GATEWAY-TCP or GATEWAY-UDP: TCP and UDP listeners need a Gateway address of their own);
// that run writes no report.
//
// Needs root and iproute2 (pod network namespaces), Go-built tools and Kubernetes binaries:
//   bash test/k8s/build-binaries.sh && bash test/tools/build-go-tool.sh gateway-conformance && bash test/tools/build-go-tool.sh coredns

import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { supportedFeatures } from '../../src/gateway/supported-features.ts';
import { GATEWAY_API_VERSION, GATEWAY_CONTROLLER_NAME } from '../../src/objects/gateway-types.ts';
import { requireTool } from '../support/go-tools.ts';
import { startRealCluster } from '../support/real-apiserver.ts';
import { freePort } from '../support/ports.ts';
import { startNode } from '../k8s/node/node.ts';
import { gatewayCrdFiles } from '../support/gateway-crds.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
/** The router's Gateway address pool in this run: loopback addresses only. */
const POOL = '127.0.10.0/24';
/** For GatewayStaticAddresses: one address of the pool, one outside it. */
const USABLE = '127.0.10.250';
const UNUSABLE = '127.0.11.250';
const REPORT = path.join(REPO, `conformance/reports/${GATEWAY_API_VERSION}/switchyard/standard-${VERSION}-default-report.yaml`);

const started = Date.now();
const log = (line: string) => console.log(`[conformance ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}`);

async function main(): Promise<number> {
  const suite = requireTool('gateway-conformance', 'conformance.test');
  requireTool('gateway-conformance', 'echo-basic');
  // The base manifests' coredns pod (the UDPRoute test's DNS backend): the real CoreDNS.
  requireTool('coredns');
  const runTest = process.argv.includes('--run-test') ? process.argv[process.argv.indexOf('--run-test') + 1] : undefined;
  // `--run-tests <regexp>`: the tests whose ShortName matches (Go's -test.run, as subtests of TestConformance).
  const runTests = process.argv.includes('--run-tests') ? process.argv[process.argv.indexOf('--run-tests') + 1] : undefined;
  const shared = process.argv.includes('--shared-ports');
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-conformance-'));
  log(`work dir ${dir}`);
  const cluster = await startRealCluster({ workloadControllers: true });
  log(`control plane up at ${cluster.server}`);
  let node: Awaited<ReturnType<typeof startNode>> | undefined;
  let router: ReturnType<typeof spawn> | undefined;
  let passed = false;
  try {
    node = await startNode({
      kubeconfig: cluster.adminKubeconfig,
      // The RequestMirror tests read the mirror pods' logs through the API server.
      kubeletTls: cluster.kubeletTls,
      log: process.env['SWITCHYARD_CONFORMANCE_NODE_LOG'] ? (l) => log(`node: ${l}`) : undefined,
    });
    log(`node ${node.name} registered`);
    // The CRDs as standard-install.yaml has them, the router's RBAC and namespace as shipped.
    const crds = gatewayCrdFiles(GATEWAY_API_VERSION, { all: true });
    await cluster.apply({ files: crds });
    await cluster.waitEstablished('gatewayclasses.gateway.networking.k8s.io', 'gateways.gateway.networking.k8s.io', 'httproutes.gateway.networking.k8s.io', 'referencegrants.gateway.networking.k8s.io');
    await cluster.apply({ kustomization: path.join(REPO, 'manifests') });
    await cluster.apply({ yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: switchyard }
spec: { controllerName: ${GATEWAY_CONTROLLER_NAME} }
` });
    const { kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router');
    const routerLog = path.join(dir, 'router.log');
    const fd = openSync(routerLog, 'a');
    // setpriv --pdeathsig: the router and the suite die with this script, however it ends.
    router = spawn('setpriv', ['--pdeathsig', 'KILL', '--', process.execPath,
      path.join(REPO, 'dist/cli.js'), 'run', '--kubeconfig', kubeconfig, '--workers', '0',
      '--bind', '127.0.0.1', '--admin-port', String(await freePort()),
      ...(shared
        ? ['--http-port', '80', '--https-port', '443', '--publish-status-address', '127.0.0.1']
        : ['--http-port', String(await freePort()), '--https-port', String(await freePort()), '--gateway-addresses', POOL]),
    ], { env: { ...process.env, POD_NAMESPACE: 'switchyard', ROUTER_LOG_LEVEL: process.env['ROUTER_LOG_LEVEL'] ?? 'info' }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    log(`router started (log ${routerLog})`);

    const features = supportedFeatures(!shared);
    const report = path.join(dir, 'report.yaml');
    const args = [
      '-test.run', runTests ? `^TestConformance$/${runTests}` : '^TestConformance$', '-test.v', '-test.timeout', '50m',
      '--gateway-class', 'switchyard',
      '--conformance-profiles', shared ? 'GATEWAY-HTTP,GATEWAY-GRPC,GATEWAY-TLS' : 'GATEWAY-HTTP,GATEWAY-GRPC,GATEWAY-TLS,GATEWAY-TCP,GATEWAY-UDP',
      '--supported-features', features.join(','),
      '--usable-address', USABLE, '--unusable-address', UNUSABLE,
      '--report-output', report,
      '--organization', 'switchyard', '--project', 'switchyard',
      '--url', 'https://github.com/switchyard/switchyard', '--version', `v${VERSION}`,
      '--contact', 'https://github.com/switchyard/switchyard/issues',
      '--mode', 'default', '--allow-crds-mismatch=false',
      ...(runTest ? ['--run-test', runTest] : []),
      // Tests the shared ports cannot pass (README, Gateway API): two Gateways routing one host
      // apart (HTTP, and TLSRoute's hostname intersection across four Gateways), an HTTPS
      // listener's certificate for a name no route claims, and TLS listeners on port 8443.
      ...(shared ? ['--skip-tests', [
        'HTTPRouteMultipleGateways', 'HTTPRouteHTTPSListener', 'TLSRouteHostnameIntersection',
        'TLSRouteTerminateSimpleSameNamespace', 'TLSRouteListenerTerminateSupportedKinds', 'TLSRouteListenerMixedTerminationNotSupported',
      ].join(',')] : []),
    ];
    log(`running the suite: ${features.length} features claimed`);
    const code = await new Promise<number>((resolve) => {
      const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', suite, ...args], {
        cwd: dir, stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, KUBECONFIG: cluster.adminKubeconfig },
      });
      child.once('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
    });
    log(`suite exited with ${code}`);
    if (!runTest && !runTests && !shared) {
      try {
        mkdirSync(path.dirname(REPORT), { recursive: true });
        copyFileSync(report, REPORT);
        log(`report: ${path.relative(REPO, REPORT)}`);
      } catch (err) {
        log(`no report written: ${(err as Error).message}`);
      }
    }
    passed = code === 0;
    if (!passed) log(`the router's log is kept for a look: ${routerLog}`);
    return code;
  } finally {
    router?.kill('SIGTERM');
    await node?.stop();
    await cluster.stop();
    if (passed && process.env['SWITCHYARD_CONFORMANCE_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
    log(`done in ${((Date.now() - started) / 60000).toFixed(1)} min`);
  }
}

process.exitCode = await main().catch((err: Error) => { console.error(err.stack ?? err.message); return 1; });
