// The key material of one real test cluster, made fresh per run with the openssl CLI: a CA, the
// kube-apiserver's serving certificate (127.0.0.1), an admin client certificate (group
// system:masters, which RBAC always allows: the test itself and kube-controller-manager use it),
// the service-account token signing key pair, and the pair kube-apiserver and the test node's
// kubelet endpoint (test/k8s/node/kubelet-server.ts) speak with: the node's serving certificate
// (127.0.0.1) and kube-apiserver's client certificate for it.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface ClusterPki {
  caCert: string;
  caCertFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  adminCert: string;
  adminKey: string;
  adminCertFile: string;
  adminKeyFile: string;
  serviceAccountKeyFile: string;
  serviceAccountPubFile: string;
  kubeletServingCert: string;
  kubeletServingKey: string;
  kubeletClientCertFile: string;
  kubeletClientKeyFile: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A P-256 key and a certificate signed by the CA (or self-signed when `ca` is undefined). */
function issue(dir: string, name: string, subject: string, extensions: string, ca?: { cert: string; key: string }): { cert: string; key: string } {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  if (!ca) {
    openssl(['req', '-x509', '-new', '-key', key, '-subj', subject, '-days', '2', '-out', cert, '-extensions', 'v3', '-config', ext]);
  } else {
    const csr = path.join(dir, `${name}.csr`);
    openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
    openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-out', cert, '-extfile', ext]);
  }
  return { cert, key };
}

export function createClusterPki(dir: string): ClusterPki {
  const ca = issue(dir, 'ca', '/CN=switchyard-test-cluster-ca',
    '[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
  const server = issue(dir, 'apiserver', '/CN=kube-apiserver',
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n', ca);
  const admin = issue(dir, 'admin', '/O=system:masters/CN=switchyard-test-admin',
    'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n', ca);
  const kubelet = issue(dir, 'kubelet-serving', '/O=system:nodes/CN=system:node:switchyard-test-node',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n', ca);
  const kubeletClient = issue(dir, 'apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client',
    'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n', ca);
  const saKey = path.join(dir, 'service-account.key');
  const saPub = path.join(dir, 'service-account.pub');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', saKey]);
  openssl(['pkey', '-in', saKey, '-pubout', '-out', saPub]);
  return {
    caCert: readFileSync(ca.cert, 'utf8'),
    caCertFile: ca.cert,
    serverCertFile: server.cert,
    serverKeyFile: server.key,
    adminCert: readFileSync(admin.cert, 'utf8'),
    adminKey: readFileSync(admin.key, 'utf8'),
    adminCertFile: admin.cert,
    adminKeyFile: admin.key,
    serviceAccountKeyFile: saKey,
    serviceAccountPubFile: saPub,
    kubeletServingCert: readFileSync(kubelet.cert, 'utf8'),
    kubeletServingKey: readFileSync(kubelet.key, 'utf8'),
    kubeletClientCertFile: kubeletClient.cert,
    kubeletClientKeyFile: kubeletClient.key,
  };
}

/** A kubeconfig for this cluster, with a client certificate or a bearer token. */
export function kubeconfigYaml(server: string, caCert: string, user: { cert: string; key: string } | { token: string }): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const userFields = 'token' in user
    ? `    token: ${user.token}\n`
    : `    client-certificate-data: ${b64(user.cert)}\n    client-key-data: ${b64(user.key)}\n`;
  return `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(caCert)}
users:
- name: test
  user:
${userFields}contexts:
- name: test
  context:
    cluster: test
    user: test
current-context: test
`;
}
