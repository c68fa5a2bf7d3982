// `switchyard kube-relay`: load options and credentials, start the servers, stop on SIGTERM/SIGINT.

import { createLogger, flushLog } from '../log.ts';
import { KubeClient } from '../kube/client.ts';
import { KubeConfigError, loadKubeConfig } from '../kube/kubeconfig.ts';
import { userAgent } from '../kube/user-agent.ts';
import { RelayMetrics } from './metrics.ts';
import { parseRelayOptions, RELAY_HELP, RelayOptionsError } from './options.ts';
import { UpstreamProxy } from './proxy.ts';
import { startRelayServer } from './server.ts';
import { TlsFiles } from './tls-files.ts';

export async function runRelay(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(RELAY_HELP);
    return 0;
  }
  let options;
  let kubeConfig;
  try {
    options = parseRelayOptions(argv, env);
    kubeConfig = loadKubeConfig(options.kubeconfig, env);
  } catch (err) {
    if (err instanceof RelayOptionsError || err instanceof KubeConfigError) {
      process.stderr.write(`switchyard kube-relay: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(options.logLevel, undefined, { component: 'kube-relay' });
  const tlsFiles = new TlsFiles(options.tlsCertFile, options.tlsKeyFile, logger);
  let tls;
  try {
    tls = await tlsFiles.load();
  } catch (err) {
    process.stderr.write(`switchyard kube-relay: serving certificate ${options.tlsCertFile} and key ${options.tlsKeyFile}: ${(err as Error).message}\n`);
    return 2;
  }
  const metrics = new RelayMetrics();
  const client = new KubeClient(kubeConfig, { userAgent: userAgent('switchyard-kube-relay', options.name, env['NODE_NAME']) });
  // The proxy verifies the API server by the kubeconfig's CA, and carries none of the relay's credentials.
  const https: { ca?: Buffer; rejectUnauthorized?: boolean; servername?: string } = {};
  await kubeConfig.applyToHTTPSOptions(https as never);
  const cluster = kubeConfig.getCurrentCluster()!;
  const proxy = new UpstreamProxy(cluster.server.replace(/\/+$/, ''), { ca: https.ca, rejectUnauthorized: https.rejectUnauthorized, servername: https.servername }, { metrics, logger });
  const server = await startRelayServer({
    client, proxy, logger, metrics, tls, bind: options.bind, port: options.port, adminPort: options.adminPort,
    cached: options.cached, windowEvents: options.windowEvents, authTtlMs: options.authTtlMs,
    maxCollections: options.maxCollections, maxCollectionsPerUser: options.maxCollectionsPerUser, uncappedUsers: options.uncappedUsers,
    unreadyAfterMs: options.unreadyAfterMs,
  });
  tlsFiles.follow((pair) => server.setTls(pair));
  logger.info({ port: server.port, admin: server.adminPort, server: cluster.server, cached: [...options.cached] }, 'listening');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  logger.info('stopping');
  tlsFiles.stop();
  await server.close();
  await client.close();
  await flushLog(logger);
  return 0;
}
