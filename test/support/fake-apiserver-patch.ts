// Patch formats the fake API server accepts: JSON merge patch (RFC 7386; strategic merge patch is
// treated the same way, which is right for maps such as labels and annotations) and JSON patch
// (RFC 6902: add, replace, remove, test).

export class PatchError extends Error {
  override name = 'PatchError';
}

type Json = unknown;

function isPlainObject(value: Json): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const result: Record<string, Json> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`invalid JSON pointer "${pointer}"`);
  return pointer.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

interface Operation { op: string; path: string; value?: Json; from?: string }

export function applyJsonPatch(target: Json, operations: Json): Json {
  if (!Array.isArray(operations)) throw new PatchError('a JSON patch must be an array of operations');
  let doc = structuredClone(target);
  for (const raw of operations as Operation[]) {
    if (!raw || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw new PatchError('each JSON patch operation needs "op" and "path"');
    }
    const parts = decodePointer(raw.path);
    if (parts.length === 0) {
      if (raw.op === 'add' || raw.op === 'replace') { doc = structuredClone(raw.value); continue; }
      throw new PatchError(`cannot ${raw.op} the document root`);
    }
    let parent: Json = doc;
    for (const part of parts.slice(0, -1)) {
      if (Array.isArray(parent)) parent = parent[Number(part)];
      else if (isPlainObject(parent)) parent = parent[part];
      else parent = undefined;
      if (parent === undefined) throw new PatchError(`path "${raw.path}" does not exist`);
    }
    const last = parts[parts.length - 1]!;
    switch (raw.op) {
      case 'add':
      case 'replace': {
        if (Array.isArray(parent)) {
          const index = last === '-' ? parent.length : Number(last);
          if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new PatchError(`bad array index in "${raw.path}"`);
          if (raw.op === 'add') parent.splice(index, 0, structuredClone(raw.value));
          else parent[index] = structuredClone(raw.value);
        } else if (isPlainObject(parent)) {
          if (raw.op === 'replace' && !(last in parent)) throw new PatchError(`path "${raw.path}" does not exist`);
          parent[last] = structuredClone(raw.value);
        } else {
          throw new PatchError(`path "${raw.path}" does not exist`);
        }
        break;
      }
      case 'remove': {
        if (Array.isArray(parent)) {
          const index = Number(last);
          if (!(index >= 0 && index < parent.length)) throw new PatchError(`path "${raw.path}" does not exist`);
          parent.splice(index, 1);
        } else if (isPlainObject(parent) && last in parent) {
          delete parent[last];
        } else {
          throw new PatchError(`path "${raw.path}" does not exist`);
        }
        break;
      }
      case 'test': {
        const current = Array.isArray(parent) ? parent[Number(last)] : isPlainObject(parent) ? parent[last] : undefined;
        if (JSON.stringify(current) !== JSON.stringify(raw.value)) throw new PatchError(`test failed at "${raw.path}"`);
        break;
      }
      default:
        throw new PatchError(`unsupported JSON patch operation "${raw.op}"`);
    }
  }
  return doc;
}
