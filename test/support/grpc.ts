// Real gRPC for tests (@grpc/grpc-js): a server on 127.0.0.1 with an echo service in the four
// call shapes, and a client for it aimed at the router (any :authority). Messages are raw bytes
// (identity serializers), so no .proto is needed: the router never looks inside them.

import * as grpc from '@grpc/grpc-js';

const id = (b: Buffer): Buffer => b;
const method = (name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
  path: `/test.Echo/${name}`, requestStream, responseStream,
  requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id,
});

export const ECHO_SERVICE = {
  unary: method('Unary', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
  bidi: method('Bidi', true, true),
} satisfies grpc.ServiceDefinition;

export interface EchoServer {
  name: string;
  port: number;
  /** Calls received (path), in order. */
  calls: string[];
  /** Calls the server saw cancelled (path). */
  cancelled: string[];
  /** Metadata of the calls received. */
  metadata: grpc.Metadata[];
  close(): Promise<void>;
  /** Drop every connection at once (a crashed backend). */
  kill(): void;
}

/**
 * Request metadata steers the server: `x-fail: <code>` answers that status (with
 * `grpc-message`); `x-count: N` makes ServerStream send N messages; `x-delay: ms` delays the
 * answer; `x-hang: 1` never answers (for deadlines and cancellation).
 */
export async function startEchoServer(name: string, options: { credentials?: grpc.ServerCredentials } = {}): Promise<EchoServer> {
  const server = new grpc.Server();
  const calls: string[] = [];
  const cancelled: string[] = [];
  const metadata: grpc.Metadata[] = [];
  const track = (path: string, call: { on(event: 'cancelled', f: () => void): unknown; metadata: grpc.Metadata }): void => {
    calls.push(path);
    metadata.push(call.metadata);
    call.on('cancelled', () => cancelled.push(path));
  };
  const first = (md: grpc.Metadata, key: string): string | undefined => md.get(key)[0]?.toString();
  const trailer = (): grpc.Metadata => {
    const md = new grpc.Metadata();
    md.set('x-served-by', name);
    return md;
  };
  server.addService(ECHO_SERVICE, {
    unary(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      track(ECHO_SERVICE.unary.path, call);
      if (first(call.metadata, 'x-hang')) return;
      const answer = (): void => {
        const fail = first(call.metadata, 'x-fail');
        if (fail !== undefined) callback({ code: Number(fail), details: `failed as asked by ${name}`, metadata: trailer() });
        else callback(null, Buffer.concat([Buffer.from(`${name}:`), call.request]), trailer());
      };
      const delay = Number(first(call.metadata, 'x-delay') ?? 0);
      if (delay > 0) setTimeout(answer, delay); else answer();
    },
    serverStream(call: grpc.ServerWritableStream<Buffer, Buffer>) {
      track(ECHO_SERVICE.serverStream.path, call);
      if (first(call.metadata, 'x-hang')) { call.write(Buffer.from('first')); return; }
      const count = Number(first(call.metadata, 'x-count') ?? 3);
      let i = 0;
      // Honour backpressure: write until the stream says stop, continue on drain.
      const pump = (): void => {
        while (i < count) {
          const ok = call.write(Buffer.from(`${name}:${i++}`));
          if (!ok) { call.once('drain', pump); return; }
        }
        call.end(trailer());
      };
      pump();
    },
    clientStream(call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      track(ECHO_SERVICE.clientStream.path, call);
      let count = 0;
      let bytes = 0;
      call.on('data', (m: Buffer) => { count++; bytes += m.length; });
      call.on('end', () => callback(null, Buffer.from(`${name}:${count}:${bytes}`), trailer()));
    },
    bidi(call: grpc.ServerDuplexStream<Buffer, Buffer>) {
      track(ECHO_SERVICE.bidi.path, call);
      // Who serves this stream, at once (a client can tell streams apart before any message).
      const who = new grpc.Metadata();
      who.set('x-backend', name);
      call.sendMetadata(who);
      call.on('data', (m: Buffer) => call.write(m));
      call.on('end', () => call.end(trailer()));
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', options.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    name, port, calls, cancelled, metadata,
    close: () => new Promise<void>((resolve) => { server.tryShutdown(() => resolve()); setTimeout(() => { server.forceShutdown(); resolve(); }, 2000).unref(); }),
    kill: () => server.forceShutdown(),
  };
}

export type EchoClient = grpc.Client & {
  unary(req: Buffer, md: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall;
  serverStream(req: Buffer, md?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<Buffer>;
  clientStream(md: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientWritableStream<Buffer>;
  bidi(md?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<Buffer, Buffer>;
};

const EchoClientCtor = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');

/** A client for `127.0.0.1:port` that sends `authority` as :authority (the router routes on it). */
export function echoClient(port: number, authority: string, options: { credentials?: grpc.ChannelCredentials; channel?: grpc.ChannelOptions } = {}): EchoClient {
  return new EchoClientCtor(`127.0.0.1:${port}`, options.credentials ?? grpc.credentials.createInsecure(), {
    'grpc.default_authority': authority,
    ...(options.credentials !== undefined ? { 'grpc.ssl_target_name_override': authority } : {}),
    ...options.channel,
  }) as unknown as EchoClient;
}

export interface UnaryResult { error: grpc.ServiceError | null; value: Buffer | undefined; trailers: grpc.Metadata | null }

/** One unary call; resolves with the error or the value, and the trailers. */
export function unary(client: EchoClient, message: string | Buffer, metadata: Record<string, string> = {}, options: grpc.CallOptions = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    let trailers: grpc.Metadata | null = null;
    const call = client.unary(Buffer.from(message), md, options, (error, value) => {
      // 'status' (with the trailers) comes after the callback: let it land first.
      setImmediate(() => resolve({ error, value, trailers: trailers ?? (error?.metadata ?? null) }));
    });
    call.on('status', (status: grpc.StatusObject) => { trailers = status.metadata; });
  });
}

export { grpc };
