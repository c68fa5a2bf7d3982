// Replace text in streamed responses (a renamed host in HTML, a leaked internal name in JSON):
// every `from` becomes `to` in text and JSON bodies, chunk by chunk, never holding more than
// `from.length - 1` bytes back (a match may straddle two chunks). The length changes, so
// Content-Length goes (the response is sent chunked); a compressed body is left alone.

import { definePlugin, Type } from 'switchyard';

const TEXTUAL = /^(text\/|application\/(json|javascript|xml)|[^;]*\+(json|xml))/i;

export default definePlugin({
  name: 'replace-text',
  config: Type.Object({
    from: Type.String({ minLength: 1, maxLength: 1024 }),
    to: Type.String({ maxLength: 1024 }),
  }, { additionalProperties: false }),
  // Per exchange: whether this response is rewritten, and the bytes held back from the last chunk.
  local: () => ({ on: false, carry: Buffer.alloc(0) }),
  create(config) {
    const from = Buffer.from(config.from);
    const to = Buffer.from(config.to);
    return {
      response(ctx) {
        const headers = ctx.responseHeaders!;
        const type = String(headers['content-type'] ?? '');
        const encoded = headers['content-encoding'] !== undefined && headers['content-encoding'] !== 'identity';
        if (!TEXTUAL.test(type) || encoded || ctx.method === 'HEAD') return;
        ctx.local.on = true;
        delete headers['content-length'];
      },
      responseBody(ctx, chunk, end) {
        const state = ctx.local;
        if (!state.on) return; // unchanged
        const data = state.carry.length === 0 ? chunk : Buffer.concat([state.carry, chunk]);
        const out: Buffer[] = [];
        let at = 0;
        for (let hit = data.indexOf(from, at); hit !== -1; hit = data.indexOf(from, at)) {
          out.push(data.subarray(at, hit), to);
          at = hit + from.length;
        }
        // Hold back what could be the start of a match completed by the next chunk.
        const keep = end ? 0 : Math.min(from.length - 1, data.length - at);
        out.push(data.subarray(at, data.length - keep));
        state.carry = Buffer.from(data.subarray(data.length - keep));
        return Buffer.concat(out);
      },
    };
  },
});
