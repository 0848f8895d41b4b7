// How the configuration file's fields are checked: a mapping with known keys only, and an error
// that names the file and the field.
import { RaftLogError } from '../../errors.js'

/** ERR_CONFIG naming the file and the field. */
export function invalid(path: string, field: string, problem: string): RaftLogError {
  return new RaftLogError('ERR_CONFIG', `Invalid configuration file ${path}: ${field} ${problem}`, { file: path, field })
}

/** `value` as a mapping whose keys are all `allowed`; ERR_CONFIG naming the first that is not. */
export function record(value: unknown, path: string, field: string, allowed: string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(path, field, 'must be a mapping')
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw invalid(path, `${field}.${key}`, `is not a known setting (known: ${allowed.join(', ')})`)
  }
  return value as Record<string, unknown>
}

