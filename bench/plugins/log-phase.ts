// Bench plugin: a log phase that counts exchanges by status class.
import { definePlugin, Type } from 'switchyard';

export default definePlugin({
  name: 'bench-log',
  config: Type.Object({}),
  create() {
    const counts = new Uint32Array(6);
    return { log(ctx) { counts[(ctx.status / 100) | 0]!++; } };
  },
});
