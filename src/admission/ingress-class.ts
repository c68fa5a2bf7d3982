// Which Ingresses this router serves, as Kubernetes defines it: spec.ingressClassName naming
// our class (or an IngressClass whose controller is ours); else the legacy annotation
// kubernetes.io/ingress.class; else, with neither, a default IngressClass that is ours.

import type { RouterConfig } from '../config.ts';
import type { Ingress, IngressClass } from '../objects/types.ts';
import type { ObjectStore } from '../store.ts';

export const INGRESS_CONTROLLER = 'switchyard.io/ingress-controller';
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

function classIsOurs(cls: IngressClass, config: RouterConfig): boolean {
  return cls.metadata.name === config.ingressClass || cls.spec?.controller === INGRESS_CONTROLLER;
}

export function isOurIngress(ingress: Ingress, store: ObjectStore, config: RouterConfig): boolean {
  const className = ingress.spec?.ingressClassName;
  if (className) {
    if (className === config.ingressClass) return true;
    const cls = store.get('IngressClass', className);
    return cls !== undefined && cls.spec?.controller === INGRESS_CONTROLLER;
  }
  const legacy = ingress.metadata.annotations?.[LEGACY_CLASS_ANNOTATION];
  if (legacy !== undefined && legacy !== '') return legacy === config.ingressClass;
  for (const cls of store.list('IngressClass')) {
    if (classIsOurs(cls, config) && cls.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true') return true;
  }
  return false;
}
