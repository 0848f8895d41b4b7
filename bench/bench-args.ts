// The command line of a bench script: --help (or -h) prints its usage and exits 0; an unknown
// option or a bad value prints the problem and the usage on stderr and exits 2, before any work.
import { parseArgs, type ParseArgsConfig } from 'node:util'

type Options = NonNullable<ParseArgsConfig['options']>
type Values<T extends Options> = ReturnType<typeof parseArgs<{ options: T }>>['values']

/** The parsed options of `args` (only `options`, no positionals); exits as above otherwise. */
export function benchArgs<const T extends Options>(usage: string, options: T, args = process.argv.slice(2)): Values<T> {
  let parsed: Record<string, unknown>
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } } }).values
  } catch (error) {
    usageError(usage, (error as Error).message)
  }
  if (parsed.help === true) {
    console.log(usage)
    process.exit(0)
  }
  return parsed as Values<T>
}

/** A positive number from option `name` (a whole one with `whole`), or `fallback` when it was not given. */
export function positiveOption(usage: string, name: string, value: string | undefined, fallback: number, whole = false): number {
  if (value === undefined) return fallback
  const number = Number(value)
  if (!Number.isFinite(number) || number <= 0 || (whole && !Number.isInteger(number))) usageError(usage, `--${name} must be a positive ${whole ? 'whole ' : ''}number, got '${value}'`)
  return number
}

/** A whole number from 0 from option `name`, or `fallback` when it was not given. */
export function wholeOption(usage: string, name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const number = Number(value)
  if (!Number.isSafeInteger(number) || number < 0) usageError(usage, `--${name} must be a whole number from 0, got '${value}'`)
  return number
}

function usageError(usage: string, message: string): never {
  console.error(`${message}\n\n${usage}`)
  process.exit(2)
}
