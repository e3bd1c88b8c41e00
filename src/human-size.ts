/**
 * Number formatting that matches Python's `format()`, so that fsreport's summary shows the same
 * text as chatmaild's `chatmail-fsreport` for the same figures.
 */

/**
 * Formats `value` with `digits` decimals, rounding like Python's `f"{value:.{digits}f}"`: on the
 * exact binary value of the double, with ties to even. JavaScript's toFixed rounds ties up, so
 * 0.125 would become "0.13" where Python prints "0.12".
 */
export function formatFixed(value: number, digits: number): string {
  if (!Number.isFinite(value) || Math.abs(value) >= 1e21) return value.toFixed(digits);

  const rounded = value.toFixed(digits);

  // toFixed with extra digits shows the exact decimal expansion of the double. A double up to
  // 1e9 that is not exactly a tie differs from one by more than 1e-30, so 40 extra digits are
  // enough to tell an exact tie from a near one.
  const expanded = Math.abs(value).toFixed(Math.min(100, digits + 40));
  const cut = expanded.length - 40;
  const rest = expanded.slice(cut);
  const isTie = rest[0] === "5" && /^0*$/.test(rest.slice(1));
  if (!isTie) return rounded;

  // An exact tie: keep the truncated digits when their last one is even, else round away.
  const truncated = expanded.slice(0, digits === 0 ? cut - 1 : cut);
  const lastDigit = Number(truncated[truncated.length - 1]);
  if (lastDigit % 2 === 1) return rounded;
  return (value < 0 && /[1-9]/.test(truncated) ? "-" : "") + truncated;
}

/** Pads `text` on the left to `width` characters, as a Python format width does for numbers. */
function padStart(text: string, width: number): string {
  return text.padStart(width, " ");
}

/**
 * Formats a byte count in K, M or G (powers of 1000), five characters wide before the unit:
 * below 10 000 with two decimals of K ("1.50K"), below 1e6 in whole K, below 1e9 in whole M
 * (truncated), else in G with two decimals. These are chatmail-fsreport's cut-offs and roundings.
 */
export function humanSize(bytes: number): string {
  if (bytes < 10_000) return `${padStart(formatFixed(bytes / 1000, 2), 5)}K`;
  if (bytes < 1_000_000) return `${padStart(formatFixed(bytes / 1000, 0), 5)}K`;
  if (bytes < 1_000_000_000) return `${padStart(String(Math.trunc(bytes / 1_000_000)), 5)}M`;
  return `${padStart(formatFixed(bytes / 1_000_000_000, 2), 5)}G`;
}
