import { UsageError } from './command.js'

/** A whole-number option's value from `min`, or a UsageError naming the option. */
export function wholeNumberOption(text: string, option: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${option} must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}, got '${text}'`)
  return Number(text)
}
