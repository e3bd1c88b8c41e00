/** Parsing of numeric command-line options. Every failure is a UsageError (exit 2) naming the option. */

import { UsageError } from "./errors.ts";

/**
 * Largest number of days that --days and --min-login-age accept: 100 years, longer than any
 * relay has run. Beyond it a value is a typo, and dates that far back would mean nothing.
 */
export const MAX_DAYS = 36_500;

/**
 * Parses a non-negative whole number written in decimal digits. Rejects empty text, signs,
 * fractions, exponents and values above `max` (default 2^53 - 1).
 */
export function parseWholeNumber(text: string | number | undefined, option: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = typeof text === "number" ? text : /^\d+$/.test(text ?? "") ? Number(text) : Number.NaN;

  // A whole number beyond 2^53 is rejected for its size, not as "not a whole number".
  if (Number.isInteger(value) && value > max) throw new UsageError(`invalid ${option} ${String(text)}: the maximum is ${max}`);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new UsageError(`invalid ${option} ${JSON.stringify(String(text ?? ""))}: expected a whole number, 0 or more`);
  }
  if (value > max) throw new UsageError(`invalid ${option} ${value}: the maximum is ${max}`);
  return value;
}

/** Parses a non-negative decimal number such as 0.5 or 12. */
export function parseDecimal(text: string | number | undefined, option: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = typeof text === "number" ? text : /^\d+(\.\d+)?$/.test(text ?? "") ? Number(text) : Number.NaN;
  if (!Number.isFinite(value) || value < 0) {
    throw new UsageError(`invalid ${option} ${JSON.stringify(String(text ?? ""))}: expected a number, 0 or more`);
  }
  if (value > max) throw new UsageError(`invalid ${option} ${value}: the maximum is ${max}`);
  return value;
}
