// Request id: every request gets an id (a UUID, or the client's own when trusted and
// well-formed), sent to the backend and echoed on the response under the same header.

import { randomUUID } from 'node:crypto';
import { definePlugin, Type } from 'switchyard';

const WELL_FORMED = /^[A-Za-z0-9._:-]{1,128}$/;

export default definePlugin({
  name: 'request-id',
  config: Type.Object({
    header: Type.String({ default: 'x-request-id', pattern: '^[A-Za-z0-9-]+$' }),
    trustIncoming: Type.Boolean({ default: false }),
  }, { additionalProperties: false }),
  // Per-exchange state: ctx.local is typed { id: string } in every phase.
  local: () => ({ id: '' }),
  create(config) {
    const header = config.header.toLowerCase();
    return {
      request(ctx) {
        const incoming = ctx.headers[header];
        ctx.local.id = config.trustIncoming && typeof incoming === 'string' && WELL_FORMED.test(incoming) ? incoming : randomUUID();
      },
      upstreamRequest(ctx) {
        ctx.setUpstreamHeader(header, ctx.local.id);
      },
      response(ctx) {
        ctx.responseHeaders![header] = ctx.local.id;
      },
    };
  },
});
