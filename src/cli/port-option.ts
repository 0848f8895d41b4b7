import { UsageError } from './command.js'

/** A TCP port given on the command line: a whole number from 0 (any free port) to 65535. */
export function portFrom(text: string, option: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`${option} must be a port number from 0 to 65535, got '${text}'`)
  return Number(text)
}
