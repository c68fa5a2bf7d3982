// Reading a route's annotations strictly: a value we cannot read rejects the route with reason
// InvalidAnnotation (admission/validation.ts) rather than serving it with a setting the user did
// not ask for. Shared by the route's own settings (route-annotations.ts) and by each built-in
// policy, which reads its own annotations in its plugin file (plugins/*.ts).

import { parseDurationText } from './duration.ts';

export type RejectReason = 'InvalidAnnotation' | 'RouteNotAdmitted';

/** A route setting that cannot be read: the route is rejected with `reason` and this message. */
export class RouteSettingError extends Error {
  readonly reason: RejectReason;
  /** The annotation at fault, when an annotation is. */
  readonly annotation: string | null;
  constructor(reason: RejectReason, message: string, annotation: string | null = null) {
    super(message);
    this.name = 'RouteSettingError';
    this.reason = reason;
    this.annotation = annotation;
  }
}

export type Annotations = Readonly<Record<string, string>>;

export function invalidAnnotation(annotation: string, why: string): never {
  throw new RouteSettingError('InvalidAnnotation', `annotation ${annotation}: ${why}`, annotation);
}

/** A duration annotation (`30s`, `5m`, milliseconds as a bare number) greater than 0; null when absent. */
export function positiveDuration(annotations: Annotations, name: string): number | null {
  const raw = annotations[name];
  if (raw === undefined) return null;
  let ms: number;
  try { ms = parseDurationText(raw); } catch (err) { return invalidAnnotation(name, (err as Error).message); }
  if (!(ms > 0)) invalidAnnotation(name, `duration must be greater than 0, got "${raw}"`);
  return ms;
}

/** An integer annotation within [min, max]; null when absent. */
export function boundedInt(annotations: Annotations, name: string, min: number, max: number): number | null {
  const raw = annotations[name];
  if (raw === undefined) return null;
  if (!/^\d+$/.test(raw.trim())) invalidAnnotation(name, `expected an integer, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) invalidAnnotation(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** One of `values`; null when absent. */
export function oneOf<T extends string>(annotations: Annotations, name: string, values: readonly T[]): T | null {
  const raw = annotations[name];
  if (raw === undefined) return null;
  const v = raw.trim() as T;
  if (!values.includes(v)) invalidAnnotation(name, `must be one of ${values.join(', ')}, got "${raw}"`);
  return v;
}

/** "true" or "false" (any case); null when absent. */
export function booleanAnnotation(annotations: Annotations, name: string): boolean | null {
  const raw = annotations[name];
  if (raw === undefined) return null;
  if (!/^(true|false)$/i.test(raw.trim())) invalidAnnotation(name, `expected "true" or "false", got "${raw}"`);
  return raw.trim().toLowerCase() === 'true';
}
