// switchyard_http_request_duration_seconds: prom-client's Histogram with the same output, but
// each route's series kept as one small array of numbers instead of prom-client's objects. Per
// label set prom-client keeps a labels object, a bucket object and (with exemplars) an exemplar
// object, each with a property per bucket, plus a hash string, and it builds that hash for every
// observation; at 10k routes with one request each that was 1.4 KB per route (bench:scale, pods
// shape), the largest metric cost of a route. Here a route's series is its bucket counts, sum
// and count in one plain array of numbers (a Float64Array's ArrayBuffer would add ~200 bytes), and its exemplars an array made on the first one. A scrape
// (get) lays the series out as prom-client's own structure for that moment and lets prom-client
// write it, so the text, the OpenMetrics exemplars and the workers' merge are unchanged.

import { Histogram } from 'prom-client';

type Labels = Partial<Record<'route', string | number>>;
interface ExemplarValue { labelSet: Record<string, string | number>; value: number; timestamp: number }

/** prom-client's per-label-set structure, made only while a scrape reads it. */
interface PromSeries {
  labels: Labels;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
  bucketExemplars: Record<string, ExemplarValue | null>;
}

/** One route's series: counts per bucket (not cumulative) then sum and count; what labels() returns. */
class RouteSeries {
  readonly route: string;
  readonly values: number[];
  /** The latest exemplar per bucket (the last index is +Inf), made on the first. */
  exemplars: Array<ExemplarValue | null> | null = null;
  readonly #bounds: readonly number[];

  constructor(route: string, bounds: readonly number[]) {
    this.route = route;
    this.#bounds = bounds;
    this.values = new Array<number>(bounds.length + 2).fill(0);
  }

  /** Index of the bucket `value` falls in: the first bound ≥ value, or bounds.length (+Inf). */
  bucketOf(value: number): number {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    return i;
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const values = this.values;
    const n = this.#bounds.length;
    const bucket = this.bucketOf(value);
    if (bucket < n) values[bucket]!++;
    values[n] = values[n]! + value;
    values[n + 1]!++;
  }

  startTimer(): (labels?: Labels) => number {
    const start = process.hrtime.bigint();
    return () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.observe(seconds);
      return seconds;
    };
  }
}

export class RouteDurationHistogram extends Histogram<'route'> {
  readonly #series = new Map<string, RouteSeries>();
  readonly #bounds: readonly number[];
  readonly #name: string;

  constructor(config: { name: string; help: string; buckets: number[]; registers?: []; aggregator?: 'sum' }) {
    super({ ...config, labelNames: ['route'], enableExemplars: true });
    this.#bounds = [...config.buckets].sort((a, b) => a - b);
    this.#name = config.name;
    // prom-client picks its observe in its constructor, as an own property: route it here.
    (this as { observe: unknown }).observe = this.#observe;
  }

  #seriesOf(route: string): RouteSeries {
    let series = this.#series.get(route);
    if (series === undefined) this.#series.set(route, (series = new RouteSeries(route, this.#bounds)));
    return series;
  }

  override labels(...args: unknown[]): Histogram.Internal<'route'> {
    const first = args[0];
    const route = typeof first === 'object' && first !== null ? (first as Labels).route : first;
    if (route === undefined || args.length > 1) throw new Error(`${this.#name}: labels() takes one value, the route`);
    return this.#seriesOf(String(route)) as unknown as Histogram.Internal<'route'>;
  }

  /** observe(labels, value), or observe({ labels, value, exemplarLabels }) as prom-client's with exemplars. */
  readonly #observe = (labelsOrObservation: Labels | { labels?: Labels; value: number; exemplarLabels?: Record<string, string | number> }, value?: number): void => {
    const observation = value === undefined ? labelsOrObservation as { labels?: Labels; value: number; exemplarLabels?: Record<string, string | number> } : { labels: labelsOrObservation as Labels, value };
    const route = observation.labels?.route;
    if (route === undefined) throw new Error(`${this.#name}: an observation needs its route label`);
    const series = this.#seriesOf(String(route));
    series.observe(observation.value);
    const exemplarLabels = observation.exemplarLabels;
    if (exemplarLabels === undefined || Object.keys(exemplarLabels).length === 0) return;
    let text = '';
    for (const [k, v] of Object.entries(exemplarLabels)) text += `${k}${v}`;
    if (text.length > 128) throw new RangeError('Label set size must be smaller than 128 UTF-8 chars');
    const exemplars = (series.exemplars ??= new Array<ExemplarValue | null>(this.#bounds.length + 1).fill(null));
    exemplars[series.bucketOf(observation.value)] = { labelSet: exemplarLabels, value: observation.value, timestamp: Date.now() / 1000 };
  };

  override remove(...args: unknown[]): void {
    const first = args[0];
    const route = typeof first === 'object' && first !== null ? (first as Labels).route : first;
    if (route !== undefined) this.#series.delete(String(route));
  }

  override reset(): void {
    if (#series in this) this.#series.clear(); // (prom-client's constructor calls it before ours ran)
  }

  override zero(labels: Labels): void {
    if (labels.route !== undefined) this.#seriesOf(String(labels.route));
  }

  // Every read of the histogram (get(), and the registry's text) goes through this; prom-client
  // reads `hashMap` at its start, synchronously: it holds the series as prom-client's
  // structure for that moment only.
  getForPromString(): Promise<unknown> {
    this.#layOut();
    const base = (Histogram.prototype as unknown as { getForPromString: (this: Histogram<'route'>) => Promise<unknown> }).getForPromString;
    const result = base.call(this);
    (this as unknown as { hashMap: object }).hashMap = {};
    return result;
  }

  #layOut(): void {
    const bounds = this.#bounds;
    const n = bounds.length;
    const hashMap: Record<string, PromSeries> = {};
    for (const series of this.#series.values()) {
      const values = series.values;
      const bucketValues: Record<string, number> = {};
      const bucketExemplars: Record<string, ExemplarValue | null> = {};
      for (let i = 0; i < n; i++) {
        bucketValues[bounds[i]!] = values[i]!;
        bucketExemplars[bounds[i]!] = series.exemplars?.[i] ?? null;
      }
      const overflow = series.exemplars?.[n];
      if (overflow != null) bucketExemplars['-1'] = overflow;
      hashMap[`route:${series.route}`] = { labels: { route: series.route }, bucketValues, sum: values[n]!, count: values[n + 1]!, bucketExemplars };
    }
    (this as unknown as { hashMap: object }).hashMap = hashMap;
  }
}
