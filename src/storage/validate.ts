// Argument checks for the public storage API: refuse bad input before anything is written.
import { RaftLogError } from '../errors.js'

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') return `${value}n`
  if (value === null || typeof value !== 'object') return String(value)
  return Array.isArray(value) ? 'an array' : `a ${value.constructor?.name ?? 'object'}`
}

/** A whole number from 0 to 2^53 − 1: indexes and terms. */
export function requireWholeNumber(value: unknown, argument: string, method: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RaftLogError(
      'ERR_BAD_ARGUMENT',
      `${method}: ${argument} must be a whole number from 0 to 2^53-1, got ${describe(value)}`,
      { argument, value },
    )
  }
  return value
}

export function requirePositiveWholeNumber(value: unknown, argument: string, method: string): number {
  const number = requireWholeNumber(value, argument, method)
  if (number === 0) {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `${method}: ${argument} must be at least 1, got 0`, { argument, value })
  }
  return number
}

export function requireBytes(value: unknown, argument: string, method: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new RaftLogError(
      'ERR_BAD_ARGUMENT',
      `${method}: ${argument} must be a Uint8Array (or Buffer), got ${describe(value)}`,
      { argument },
    )
  }
  return value
}

export function requireString(value: unknown, argument: string, method: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `${method}: ${argument} must be a non-empty string, got ${describe(value)}`, {
      argument,
    })
  }
  return value
}

export function outOfRange(message: string, details: Record<string, unknown>): RaftLogError {
  return new RaftLogError('ERR_OUT_OF_RANGE', message, details)
}
