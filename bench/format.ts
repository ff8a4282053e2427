import { spread } from './targets.js'

export const MISSING = '–'

/** `12,345` above 100, else with `digits` decimals. */
export function number(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return MISSING
  return Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en') : value.toFixed(digits)
}

/** `median (min–max)`, or the one value when there is one run. */
export function ranged(values: number[], digits = 2): string {
  const range = spread(values)
  if (range === null) return MISSING
  if (range.min === range.max) return number(range.median, digits)
  return `${number(range.median, digits)} (${number(range.min, digits)}–${number(range.max, digits)})`
}
