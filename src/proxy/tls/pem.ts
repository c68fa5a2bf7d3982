// Splitting PEM text into its blocks: certificate chains and private keys arrive concatenated
// (a default-certificate file, a Route's certificate field with intermediates).

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

export interface PemBlock {
  /** The label, e.g. `CERTIFICATE`, `PRIVATE KEY`, `EC PRIVATE KEY`. */
  label: string;
  /** The whole block including its BEGIN/END lines. */
  text: string;
}

export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) blocks.push({ label: m[1]!, text: m[0] });
  return blocks;
}

/** The CERTIFICATE blocks of a PEM text, in order. */
export function pemCertificates(text: string): string[] {
  return pemBlocks(text).filter((b) => b.label === 'CERTIFICATE').map((b) => b.text);
}

/** The first private key block (PKCS#8, PKCS#1, SEC1 or encrypted PKCS#8), or null. */
export function pemPrivateKey(text: string): PemBlock | null {
  return pemBlocks(text).find((b) => b.label.endsWith('PRIVATE KEY')) ?? null;
}
