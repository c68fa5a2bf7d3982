// Bench plugin: sets one upstream request header.
import { definePlugin, Type } from 'switchyard';

export default definePlugin({
  name: 'bench-set-header',
  config: Type.Object({}),
  create: () => ({ upstreamRequest(ctx) { ctx.setUpstreamHeader('x-bench', '1'); } }),
});
