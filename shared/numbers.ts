/** A number read from a flag or a variable, or what is wrong with it, in terms of the flag. */
export type ParsedNumber =
  { readonly ok: true; readonly value: number } | { readonly ok: false; readonly message: string };

export interface NumberRule {
  readonly min: number;
  readonly max: number;
  /** Whole numbers only (a page size, a port); else decimals too (seconds). */
  readonly whole?: boolean;
  /** What the number counts, for the message: "seconds", "days". */
  readonly unit?: string;
  /** Appended to the range in the message: " (or 0 to turn it off)". */
  readonly or?: string;
}

/**
 * Read `text` as a number within `rule`. Flags arrive as text and are read here, not by the
 * argument parser, which turns `--limit abc` into NaN and loses what the user wrote.
 */
export function parseNumber(text: string | number, flag: string, rule: NumberRule): ParsedNumber {
  const written = String(text).trim();
  // Decimal notation only: Number() would also take 0x10, 1e3 and Infinity.
  const value = /^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(written) ? Number(written) : Number.NaN;
  const kind = rule.whole === true ? 'a whole number' : 'a number';
  const range = `${kind}${rule.unit === undefined ? '' : ` of ${rule.unit}`} from ${rule.min} to ${rule.max}${rule.or ?? ''}`;
  if (!Number.isFinite(value) || (rule.whole === true && !Number.isInteger(value))) {
    return { ok: false, message: `${flag} ${JSON.stringify(written)} is not ${kind}; use ${range}` };
  }
  if (value < rule.min || value > rule.max) {
    return { ok: false, message: `${flag} ${written} is out of range; use ${range}` };
  }
  return { ok: true, value };
}
