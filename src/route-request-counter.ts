// switchyard_http_requests_total: prom-client's Counter with the same output, but each route's
// series kept as one array of five counts (1xx … 5xx) that the proxy adds to. prom-client keeps,
// per route and status class, a labels object, a value object and a hash string, and a route
// held a bound `inc` per class it answered with; each inc hashed the labels again. At 10k routes
// with one request each that was ~250 bytes per route (bench:scale, heap snapshot). A read (get:
// the text, OpenMetrics, the workers' merge, the dashboard's sampler) lists the counts as
// prom-client's values, so the output is unchanged. A class outside 1xx–5xx (a status ≥ 600)
// is counted by prom-client's own structure.

import { Counter, type Registry } from 'prom-client';

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
/** Where a series array keeps its count of holders (after the five counts). */
const HOLDERS = 5;
type LabelName = 'route' | 'code_class';
type Labels = Partial<Record<LabelName, string | number>>;
interface Value { value: number; labels: Labels }

/** prom-client's own inc (without exemplars): labels and value, or a value alone. */
const promInc = (Counter.prototype as unknown as { incWithoutExemplar(this: Counter<LabelName>, labels?: Labels | number, value?: number): void }).incWithoutExemplar;

function checked(value: number): number {
  if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
  if (value < 0) throw new Error('It is not possible to decrease a counter');
  return value;
}

export class RouteRequestCounter extends Counter<LabelName> {
  /**
   * Counts by route, index = status class (status / 100 - 1; a 0 is a series not there yet), then
   * at HOLDERS how many runtimes add to the array (acquire/release): routes that share a label
   * (an Ingress's paths) share it, and it is dropped when the last of them goes.
   */
  readonly #series = new Map<string, number[]>();

  constructor(config: { name: string; help: string; registers?: Registry[] }) {
    super({ ...config, labelNames: ['route', 'code_class'] });
    // prom-client picks its inc in its constructor, as an own property: route it here.
    (this as { inc: unknown }).inc = this.#inc;
  }

  #seriesOf(route: string): number[] {
    let series = this.#series.get(route);
    if (series === undefined) this.#series.set(route, (series = [0, 0, 0, 0, 0, 0]));
    return series;
  }

  /**
   * A route's counts by status class index (0: 1xx … 4: 5xx), for its runtime to add to; paired
   * with release().
   */
  acquire(route: string): number[] {
    const series = this.#seriesOf(route);
    series[HOLDERS]!++;
    return series;
  }

  /**
   * A runtime that acquired the route's counts left the table: its series go (as prom-client's
   * remove), and the array with the last holder.
   */
  release(route: string): void {
    const series = this.#series.get(route);
    if (series === undefined) return;
    for (let i = 0; i < CLASSES.length; i++) series[i] = 0;
    if (--series[HOLDERS]! <= 0) this.#series.delete(route);
  }

  #add(labels: Labels, value: number): void {
    const index = CLASSES.indexOf(labels.code_class as (typeof CLASSES)[number]);
    if (index < 0 || labels.route === undefined || Object.keys(labels).some((k) => k !== 'route' && k !== 'code_class')) {
      promInc.call(this, labels, value);
      return;
    }
    this.#seriesOf(String(labels.route))[index]! += checked(value);
  }

  /** inc(labels, value) or inc(value), as prom-client's. */
  readonly #inc = (labelsOrValue?: Labels | number, value?: number): void => {
    if (typeof labelsOrValue === 'object' && labelsOrValue !== null) this.#add(labelsOrValue, value ?? 1);
    else promInc.call(this, labelsOrValue ?? 1);
  };

  override labels(...args: unknown[]): Counter.Internal {
    const first = args[0];
    const labels: Labels = typeof first === 'object' && first !== null ? first as Labels : { route: first as string, code_class: args[1] as string };
    return { inc: (value?: number) => this.#add(labels, value ?? 1) };
  }

  override remove(...args: unknown[]): void {
    const first = args[0];
    const labels: Labels = typeof first === 'object' && first !== null ? first as Labels : { route: first as string, code_class: args[1] as string };
    const index = CLASSES.indexOf(labels.code_class as (typeof CLASSES)[number]);
    const series = labels.route === undefined ? undefined : this.#series.get(String(labels.route));
    if (series !== undefined && index >= 0) {
      series[index] = 0;
      if (series.every((n) => n === 0)) this.#series.delete(String(labels.route)); // no counts, no holder
      return;
    }
    super.remove(labels as never);
  }

  override reset(): void {
    super.reset();
    if (#series in this) this.#series.clear(); // (prom-client's constructor calls it before ours ran)
  }

  override async get(): Promise<Awaited<ReturnType<Counter<LabelName>['get']>>> {
    const base = await super.get();
    const values: Value[] = [...base.values as Value[]];
    for (const [route, series] of this.#series) {
      for (let i = 0; i < CLASSES.length; i++) if (series[i]! > 0) values.push({ value: series[i]!, labels: { route, code_class: CLASSES[i]! } });
    }
    return { ...base, values: values as typeof base.values };
  }
}
