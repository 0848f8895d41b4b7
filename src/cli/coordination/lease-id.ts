// Lease ids on the command line, as etcdctl writes them: hexadecimal.
import { UsageError } from '../command.js'

export function leaseIdFrom(text: string | undefined, what = 'a lease id'): number {
  if (text === undefined) throw new UsageError(`Missing ${what} (hexadecimal, as lease grant prints it)`)
  if (!/^[0-9a-fA-F]{1,16}$/.test(text) || Number.parseInt(text, 16) < 1 || Number.parseInt(text, 16) > Number.MAX_SAFE_INTEGER) throw new UsageError(`${what} must be hexadecimal, as lease grant prints it (1 to 1fffffffffffff), got '${text}'`)
  return Number.parseInt(text, 16)
}

export function leaseIdText(id: number): string {
  return id.toString(16)
}

/** A TTL or a revision argument: a whole number from `min`. */
export function wholeFrom(text: string | undefined, what: string, min = 1): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) throw new UsageError(`${what} must be a whole number from ${min}, got '${text ?? ''}'`)
  return Number(text)
}
