// The names the picked ports go by, in the application's environment and in the pod's
// annotations alike: AUTO_PORT0, AUTO_PORT1, … (DomeOS's names; a Route points the router at one
// of them with `switchyard.io/target-port-annotation: AUTO_PORT0`).

export const AUTO_PORT_PREFIX = 'AUTO_PORT';

/** `{ AUTO_PORT0: "20123", … }` in pick order. */
export function portVariables(ports: readonly number[]): Record<string, string> {
  const vars: Record<string, string> = {};
  ports.forEach((port, i) => { vars[`${AUTO_PORT_PREFIX}${i}`] = String(port); });
  return vars;
}
