// The /metrics text in pieces. prom-client's registry.metrics() builds every series of every
// family into one string; at 10k routes that is ~40,000 series of switchyard_endpoint_up and
// switchyard_route_endpoints_available alive at once, and V8 keeps the young generation it grew
// to hold them (about 6 KB of RSS per route). Here the computed families (ComputedGauge) are
// generated a few hundred series at a time while they are written; the others are small and
// still come whole from prom-client.

import type { Registry } from 'prom-client';
import { ComputedGauge, escapeText } from './metrics.ts';
import { openMetricsFamily, type FamilyJson } from './metrics-openmetrics.ts';

/** prometheus: text format 0.0.4 (prom-client's); openmetrics: OpenMetrics 1.0 text, with exemplars. */
export type ExpositionFormat = 'prometheus' | 'openmetrics';

/** Series of a computed family per piece (about 20 KB of text). */
export const LINES_PER_PIECE = 256;

/**
 * The exposition of `registry`, byte for byte what `registry.metrics()` returns (families in
 * registration order, a blank line between them), in pieces. Every other family's text comes
 * from `texts` before the first piece (so a failing collect() fails the scrape before anything
 * is sent): the same registry, or the one merged over the workers (which leaves the computed
 * families out; families only the workers have follow at the end, as in the merge's order).
 */
export async function* expositionPieces(registry: Registry, texts: Registry = registry, format: ExpositionFormat = 'prometheus'): AsyncGenerator<string> {
  const own = registry.getMetricsAsArray() as unknown[];
  const names = new Set(own.map((metric) => (metric as { name: string }).name));
  const families: Array<ComputedGauge<string> | string> = own.map((metric) => (metric instanceof ComputedGauge ? metric : (metric as { name: string }).name));
  for (const metric of texts.getMetricsAsArray()) if (!names.has(metric.name)) families.push(metric.name);
  const openMetrics = format === 'openmetrics';
  const text = await Promise.all(families.map(async (family) => {
    if (typeof family !== 'string') return null;
    const metric = texts.getSingleMetric(family);
    if (metric === undefined) return null;
    return openMetrics ? openMetricsFamily(await metric.get() as unknown as FamilyJson) : texts.getSingleMetricAsString(family);
  }));
  let piece = '';
  let separator = '';
  // OpenMetrics has no blank lines between families, and ends with `# EOF`.
  const between = openMetrics ? '\n' : '\n\n';
  let lines = 0; // computed series in `piece`
  for (const [i, family] of families.entries()) {
    if (family instanceof ComputedGauge) {
      const name = escapeText(family.name);
      piece += `${separator}# HELP ${name} ${escapeText(family.help)}\n# TYPE ${name} ${family.type}`;
      for (const line of family.lines()) {
        piece += `\n${line}`;
        if (++lines === LINES_PER_PIECE) {
          yield piece;
          piece = '';
          lines = 0;
        }
      }
    } else if (text[i] !== null) {
      piece += separator + text[i];
    } else {
      continue;
    }
    separator = between;
  }
  yield openMetrics ? `${piece}\n# EOF\n` : `${piece}\n`;
}
