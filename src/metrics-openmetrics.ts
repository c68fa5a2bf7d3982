// /metrics in the OpenMetrics text format (application/openmetrics-text; version=1.0.0), for a
// scraper that asks for it — Prometheus does by default — because only that format carries
// exemplars: the request duration histogram's buckets name a trace (trace_id, span_id) that
// landed in them, so a latency spike in Grafana links to a trace of it. The Prometheus text
// format (prom-client's) stays the default.
//
// prom-client keeps exemplars only for a histogram created with enableExemplars (and refuses that
// on a registry of the Prometheus format, so metrics.ts registers it by hand), prints them only
// from an OpenMetrics registry, and its cluster aggregation drops them: this module writes the
// format from the families' values itself, and adds an aggregator that sums like 'sum' and keeps
// each series' most recent exemplar across workers.

import promClient from 'prom-client';

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** The aggregator name of histograms with exemplars (metrics.ts). */
export const SUM_WITH_EXEMPLARS = 'sumWithExemplars';

export interface ExemplarJson { labelSet: Record<string, string>; value: number; timestamp?: number }
interface ValueJson { value: number; labels: Record<string, string | number>; metricName?: string; exemplar?: ExemplarJson | null }
export interface FamilyJson { name: string; help: string; type: string; values: ValueJson[]; aggregator?: string }

/** The client asks for OpenMetrics (an Accept header naming it, as Prometheus sends by default). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/openmetrics-text');
}

// ---- aggregation over workers

function sumWithExemplars(metrics: FamilyJson[]): FamilyJson | undefined {
  if (metrics.length === 0) return undefined;
  const first = metrics[0]!;
  const byKey = new Map<string, ValueJson>();
  for (const metric of metrics) {
    for (const v of metric.values) {
      const key = `${v.metricName ?? ''}\u0000${JSON.stringify(Object.entries(v.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`;
      const seen = byKey.get(key);
      if (seen === undefined) {
        byKey.set(key, { value: v.value, labels: v.labels, metricName: v.metricName, exemplar: v.exemplar ?? null });
        continue;
      }
      seen.value += v.value;
      if (v.exemplar && (!seen.exemplar || (v.exemplar.timestamp ?? 0) > (seen.exemplar.timestamp ?? 0))) seen.exemplar = v.exemplar;
    }
  }
  return { name: first.name, help: first.help, type: first.type, values: [...byKey.values()], aggregator: first.aggregator };
}

// prom-client's registry of aggregators (exported, untyped): AggregatorRegistry.aggregate looks names up there.
(promClient as unknown as { aggregators: Record<string, (metrics: FamilyJson[]) => FamilyJson | undefined> }).aggregators[SUM_WITH_EXEMPLARS] = sumWithExemplars;

// ---- the text format

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function labelValue(value: string | number): string {
  return String(value).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelSet(labels: Record<string, string | number>): string {
  let text = '';
  for (const [name, value] of Object.entries(labels)) {
    text += `${text === '' ? '' : ','}${name}="${name === 'le' ? leText(value) : labelValue(value)}"`;
  }
  return text;
}

function leText(value: string | number): string {
  return typeof value === 'number' ? number(value) : value;
}

/** The family's name as OpenMetrics names it: a counter's without its _total (its samples carry it). */
export function familyName(family: { name: string; type: string }): string {
  return family.type === 'counter' ? family.name.replace(/_total$/, '') : family.name;
}

/** One family: its descriptor lines and samples (exemplars on the bucket lines that have one), no trailing newline. */
export function openMetricsFamily(family: FamilyJson): string {
  const name = familyName(family);
  const lines = [`# HELP ${name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}`, `# TYPE ${name} ${family.type === 'summary' || family.type === 'histogram' || family.type === 'counter' ? family.type : family.type === 'gauge' ? 'gauge' : 'unknown'}`];
  for (const v of family.values) {
    const sample = family.type === 'counter' ? `${name}_total` : (v.metricName ?? family.name);
    const labels = labelSet(v.labels);
    let line = `${sample}${labels === '' ? '' : `{${labels}}`} ${number(v.value)}`;
    const exemplar = v.exemplar;
    if (exemplar) line += ` # {${labelSet(exemplar.labelSet)}} ${number(exemplar.value)}${exemplar.timestamp === undefined ? '' : ` ${exemplar.timestamp}`}`;
    lines.push(line);
  }
  return lines.join('\n');
}
