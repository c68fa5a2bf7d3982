// An echo gRPC server (grpc.ts) in a process of its own, so a test can kill it as a crash does
// (SIGKILL: the kernel closes its sockets, no GOAWAY, no RST_STREAM).
// Run as a script: prints `port <n>` once listening.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startEchoServer } from './grpc.ts';

export interface EchoProcess {
  port: number;
  child: ChildProcess;
  kill(): Promise<void>;
}

export async function spawnEchoServer(name: string): Promise<EchoProcess> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const match = /port (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`echo server exited (${code})`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { port, child, kill: async () => { child.kill('SIGKILL'); await exited; } };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await startEchoServer(process.argv[2] ?? 'child');
  process.stdout.write(`port ${server.port}\n`);
}
