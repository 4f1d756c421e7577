// Balances for people, the same in the app and the CLI. The ledger counts integer milli-units
// (one unit: one core or one GiB for an hour), so a short run is worth a few thousandths; shown
// with two decimals, as before, every balance of a short run read 0.0.
const trim = (n: number, max: number, min = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: min, maximumFractionDigits: max })

/** Milli-units as units: up to two decimals from one unit up (12345 → "12.35"), to the ledger's
 *  thousandth below it (4 → "0.004"). */
export function formatUnits(milli: number): string {
  return trim(milli / 1000, Math.abs(milli) < 1000 ? 3 : 2, 1)
}

/** A balance with its sign spelled out, using a real minus sign; zero has none. */
export function formatSignedUnits(milli: number): string {
  const text = formatUnits(Math.abs(milli))
  if (text === '0.0') return text
  return milli > 0 ? `+${text}` : `\u2212${text}`
}
