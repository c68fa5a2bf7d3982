// Which HTTP statuses count as healthy for an http check: status classes (`2xx`) and exact codes
// (`204`), as written in HealthCheckSpec.expect. Parsed once per probe loop, matched per probe.

export const DEFAULT_EXPECT: readonly string[] = ['2xx'];

const CLASS = /^([1-5])xx$/i;
const CODE = /^[1-5][0-9][0-9]$/;

export class StatusExpectation {
  /** Bit n set: status class nxx is healthy. */
  readonly #classes: number;
  readonly #codes: ReadonlySet<number>;
  /** Canonical text, e.g. `2xx,301`. */
  readonly text: string;

  constructor(classes: number, codes: ReadonlySet<number>, text: string) {
    this.#classes = classes;
    this.#codes = codes;
    this.text = text;
  }

  matches(status: number): boolean {
    return (this.#classes & (1 << Math.floor(status / 100))) !== 0 || this.#codes.has(status);
  }
}

/** Parse `expect` (default 2xx); throws a TypeError naming the first entry that is neither `Nxx` nor a code 100-599. */
export function parseStatusExpectation(expect: readonly string[] | undefined): StatusExpectation {
  const entries = expect === undefined || expect.length === 0 ? DEFAULT_EXPECT : expect;
  let classes = 0;
  const codes = new Set<number>();
  const canonical: string[] = [];
  for (const raw of entries) {
    const entry = String(raw).trim();
    const cls = CLASS.exec(entry);
    if (cls !== null) {
      classes |= 1 << Number(cls[1]);
      canonical.push(`${cls[1]}xx`);
    } else if (CODE.test(entry)) {
      codes.add(Number(entry));
      canonical.push(entry);
    } else {
      throw new TypeError(`health check expect: ${JSON.stringify(raw)} is neither a status class (2xx) nor a status code (204)`);
    }
  }
  return new StatusExpectation(classes, codes, canonical.join(','));
}
