/**
 * What a JS fuzz harness is (fuzz/harnesses.ts lists them) and the checks they share.
 * A harness runs one case per seed, deterministically: the same seed rebuilds the same
 * input, so a finding is replayed from its seed alone.
 */
import { rngU32 } from '../../test/helpers';

/** One JS harness: `run(seed)` builds a case from the seed, runs it, and checks invariants. */
export interface JsHarness {
  /** Folder name under fuzz/findings/ and name printed by the runner. */
  readonly name: string;
  /** Longest one case may take before it counts as a hang (ms). */
  readonly caseTimeoutMs: number;
  /**
   * Runs case `seed`; throws a {@link Finding} when an invariant does not hold. Returns how
   * the case ended ("exact", or the error code it was refused with), which the runner tallies
   * to show that both outcomes are exercised.
   */
  run(seed: number): Promise<string>;
  /** Frees what the harness kept between cases (temporary folders). */
  close?(): Promise<void>;
}

/** An invariant that did not hold, with the input that broke it. */
export class Finding extends Error {
  constructor(
    message: string,
    readonly input?: Buffer,
  ) {
    super(message);
    this.name = 'Finding';
  }
}

/** A seeded source of choices for one case (mulberry32 from test/helpers). */
export class Choices {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = rngU32(seed);
  }
  /** Unsigned 32-bit integer. */
  u32(): number {
    return this.next();
  }
  /** Integer in [0, n). */
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }
  /** One element of `a`. */
  pick<T>(a: readonly T[]): T {
    return a[this.below(a.length)];
  }
  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() / 4294967296 < p;
  }
}

/** The shape every error from bad input must have. */
export interface TypedError extends Error {
  code?: string;
  offset?: number;
}

/** Throws a Finding unless `err` is a PagepressError-like error with a PP_ERR_ code. */
export function expectTyped(err: unknown, what: string, input?: Buffer): asserts err is TypedError {
  const e = err as TypedError;
  if (!(e instanceof Error) || typeof e.code !== 'string' || !e.code.startsWith('PP_ERR_')) {
    throw new Finding(`${what}: failed without a PP_ERR_ code: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, input);
  }
}

/**
 * The decoder invariant: `out` is `original` exactly when there was no error; after an
 * error, a prefix of it (nothing wrong was handed on), unless the input was `forged`
 * (Mutated.forged: then only the error is required). Returns "exact" or the error code.
 */
export function expectExactOrPrefix(original: Buffer, out: Buffer, err: unknown, what: string, input: Buffer, forged = false): string {
  if (!err) {
    if (!out.equals(original)) throw new Finding(`${what}: decoded without an error but the output (${out.length} bytes) is not the original (${original.length} bytes)`, input);
    return 'exact';
  }
  expectTyped(err, what, input);
  if (forged) return `${err.code} (forged)`; // refused, by the END digest at the latest; see Mutated.forged
  if (out.length > original.length || !original.subarray(0, out.length).equals(out)) {
    const at = firstDifference(original, out);
    throw new Finding(`${what}: failed with ${err.code} (${err.message}) after writing ${out.length} bytes that are not a prefix of the original (first difference at byte ${at})`, input);
  }
  return err.code!;
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
