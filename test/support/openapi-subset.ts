// Validates a value against the subset of OpenAPI v3 that CRD schemas (structural schemas) use:
// type, nullable, required, properties, items, enum, pattern, minimum/maximum,
// minLength/maxLength, minItems/maxItems, x-kubernetes-int-or-string,
// x-kubernetes-preserve-unknown-fields. Unknown fields are errors, as with kubectl's strict field
// validation; an object schema without `properties` (metadata) accepts any fields. Returns the
// list of problems, each starting with its JSON pointer; empty means valid.

export interface SchemaNode {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  nullable?: boolean;
  required?: string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  anyOf?: SchemaNode[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  [keyword: string]: unknown;
}

export function validateOpenApi(schema: SchemaNode, value: unknown, pointer = ''): string[] {
  const at = pointer === '' ? '/' : pointer;
  if (value === null) return schema.nullable ? [] : [`${at}: must not be null`];
  if (schema['x-kubernetes-int-or-string']) {
    if (!(typeof value === 'string' || Number.isInteger(value))) return [`${at}: must be an integer or a string`];
    return checkScalar(schema, value, at);
  }
  const typeError = checkType(schema, value, at);
  if (typeError) return [typeError];
  if (Array.isArray(value)) return checkArray(schema, value, pointer);
  if (typeof value === 'object') return checkObject(schema, value as Record<string, unknown>, pointer);
  return checkScalar(schema, value, at);
}

function checkType(schema: SchemaNode, value: unknown, at: string): string | undefined {
  switch (schema.type) {
    case undefined:
      return schema['x-kubernetes-preserve-unknown-fields'] ? undefined : `${at}: schema has no type`;
    case 'object':
      return typeof value === 'object' && !Array.isArray(value) ? undefined : `${at}: must be an object`;
    case 'array':
      return Array.isArray(value) ? undefined : `${at}: must be an array`;
    case 'integer':
      return Number.isInteger(value) ? undefined : `${at}: must be an integer`;
    case 'number':
      return typeof value === 'number' ? undefined : `${at}: must be a number`;
    default:
      return typeof value === schema.type ? undefined : `${at}: must be a ${schema.type}`;
  }
}

function checkScalar(schema: SchemaNode, value: unknown, at: string): string[] {
  const errors: string[] = [];
  if (schema.enum && !schema.enum.includes(value)) {
    errors.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  if (typeof value === 'string') {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
      errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
    if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${at}: longer than ${schema.maxLength}`);
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${at}: shorter than ${schema.minLength}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: ${value} is below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: ${value} is above ${schema.maximum}`);
  }
  return errors;
}

function checkArray(schema: SchemaNode, value: unknown[], pointer: string): string[] {
  const at = pointer === '' ? '/' : pointer;
  const errors: string[] = [];
  if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${at}: more than ${schema.maxItems} items`);
  if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${at}: fewer than ${schema.minItems} items`);
  if (schema.items) value.forEach((item, i) => errors.push(...validateOpenApi(schema.items!, item, `${pointer}/${i}`)));
  return errors;
}

function checkObject(schema: SchemaNode, value: Record<string, unknown>, pointer: string): string[] {
  const errors: string[] = [];
  for (const name of schema.required ?? []) {
    if (value[name] === undefined) errors.push(`${pointer}/${name}: required`);
  }
  const properties = schema.properties;
  if (properties === undefined) return errors;
  for (const [name, child] of Object.entries(value)) {
    const childSchema = properties[name];
    if (childSchema) errors.push(...validateOpenApi(childSchema, child, `${pointer}/${name}`));
    else if (!schema['x-kubernetes-preserve-unknown-fields']) errors.push(`${pointer}/${name}: unknown field`);
  }
  return errors;
}

/**
 * The problems that make a schema non-structural in the ways this subset can see: a node
 * without a type (unless int-or-string or preserve-unknown-fields), or an anyOf that is not
 * the int-or-string idiom.
 */
export function structuralSchemaProblems(schema: SchemaNode, pointer = ''): string[] {
  const at = pointer === '' ? '/' : pointer;
  const problems: string[] = [];
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  if (schema.type === undefined && !intOrString && !schema['x-kubernetes-preserve-unknown-fields']) problems.push(`${at}: no type`);
  if (schema.anyOf && !intOrString) problems.push(`${at}: anyOf outside x-kubernetes-int-or-string`);
  for (const [name, child] of Object.entries(schema.properties ?? {})) problems.push(...structuralSchemaProblems(child, `${pointer}/${name}`));
  if (schema.items) problems.push(...structuralSchemaProblems(schema.items, `${pointer}/items`));
  return problems;
}

/** The schema node a simple JSONPath (`.spec.tls.termination`, `.status.ingress[0].host`) leads to. */
export function schemaAtJsonPath(schema: SchemaNode, jsonPath: string): SchemaNode | undefined {
  let node: SchemaNode | undefined = schema;
  for (const step of jsonPathSteps(jsonPath)) {
    if (node === undefined) return undefined;
    node = typeof step === 'number' ? node.items : node.properties?.[step];
  }
  return node;
}

/** The value a simple JSONPath leads to in an object, or undefined. */
export function valueAtJsonPath(value: unknown, jsonPath: string): unknown {
  let v: unknown = value;
  for (const step of jsonPathSteps(jsonPath)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[step];
  }
  return v;
}

function jsonPathSteps(jsonPath: string): Array<string | number> {
  if (!/^(\.[A-Za-z_][\w-]*(\[\d+\])*)+$/.test(jsonPath)) throw new Error(`not a simple JSONPath: ${jsonPath}`);
  const steps: Array<string | number> = [];
  for (const m of jsonPath.matchAll(/\.([A-Za-z_][\w-]*)|\[(\d+)\]/g)) {
    steps.push(m[1] !== undefined ? m[1] : Number(m[2]));
  }
  return steps;
}
