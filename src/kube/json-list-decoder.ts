// A JSON list (`{"apiVersion":…,"items":[{…},{…}],"kind":…,"metadata":{…}}`) read item by item
// as its text arrives, so that one unpaged list of 100k objects (over 100 MB of JSON) is never
// one string nor one object graph in the router: each item is parsed on its own, handed over and
// dropped (kube-apiserver 1.33+ writes a list this way too, item by item). Everything outside
// `items` (the list's metadata: its resourceVersion) is kept and parsed at the end.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Where the top-level object's `"items":` key ends (white space allowed around the colon). */
const ITEMS_KEY = /"items"\s*:\s*$/;

export class JsonListDecoder {
  /** Nesting depth at the end of what was scanned (1 = inside the list object). */
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** Inside the top-level `items` array. */
  #inItems = false;
  /** The list without its items' text (`"items":[]`), parsed by end(). */
  #outside = '';
  /** The text of the item being read, from its start up to the previous chunk's end. */
  #item = '';
  /** Where the current item starts in the chunk being scanned; -1 when not in an item. */
  #itemStart = -1;

  /** The items completed by this chunk (text decoded as UTF-8 across chunks by the caller). */
  * push(chunk: string): Generator<unknown> {
    // Outside the items: copied from `from` on; the items' text is cut out of it.
    let from = 0;
    let depth = this.#depth;
    let inString = this.#inString;
    let escaped = this.#escaped;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
        continue;
      }
      if (c === QUOTE) {
        // Jump to the closing quote: one not escaped, i.e. after an even run of backslashes.
        let q = chunk.indexOf('"', i + 1);
        while (q !== -1 && backslashesBefore(chunk, q, i) % 2 === 1) q = chunk.indexOf('"', q + 1);
        if (q === -1) {
          // The string goes on in the next chunk (escaped: this one ends in the middle of an escape).
          inString = true;
          escaped = backslashesBefore(chunk, chunk.length, i) % 2 === 1;
          i = chunk.length;
        } else {
          i = q;
        }
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (this.#inItems && depth === 2) {
          this.#itemStart = i;
          this.#item = '';
        }
        depth++;
        if (depth === 2 && c === OPEN_BRACKET && !this.#inItems) {
          this.#outside += chunk.slice(from, i);
          from = i;
          if (ITEMS_KEY.test(this.#outside)) {
            this.#outside += '[]';
            this.#inItems = true;
            from = -1;
          }
        }
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        depth--;
        if (this.#inItems && depth === 2) {
          const text = this.#item + chunk.slice(this.#itemStart === -1 ? 0 : this.#itemStart, i + 1);
          this.#item = '';
          this.#itemStart = -1;
          yield parseItem(text);
        } else if (this.#inItems && depth === 1) {
          this.#inItems = false; // the items' closing bracket: the rest of the list follows
          from = i + 1;
        }
        if (depth < 0) throw new Error('list is not JSON: unbalanced brackets');
      }
    }
    this.#depth = depth;
    this.#inString = inString;
    this.#escaped = escaped;
    if (this.#inItems) {
      // An item split over chunks: its text so far is kept, and goes on at the next chunk's start.
      if (this.#itemStart !== -1 || this.#item !== '') this.#item += chunk.slice(this.#itemStart === -1 ? 0 : this.#itemStart);
      this.#itemStart = -1;
    } else if (from !== -1) {
      this.#outside += chunk.slice(from);
    }
  }

  /** The list without its items (`items: []`): its metadata, kind and apiVersion. */
  end(): { metadata?: { resourceVersion?: string; continue?: string } } {
    if (this.#depth !== 0 || this.#inString) throw new Error('list ended before its JSON was complete');
    try {
      return JSON.parse(this.#outside);
    } catch {
      throw new Error(`list is not JSON (${this.#outside.length} bytes outside its items)`);
    }
  }
}

/** How many backslashes come right before `end`, not counting at or before `floor` (the string's opening quote). */
function backslashesBefore(text: string, end: number, floor: number): number {
  let k = end - 1;
  while (k > floor && text.charCodeAt(k) === BACKSLASH) k--;
  return end - 1 - k;
}

function parseItem(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`list sent an item that is not JSON (${text.length} bytes)`);
  }
}
