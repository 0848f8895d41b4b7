// etcdctl's flags for a get and a delete of a range, as `raftlog kv get`, `raftlog kv del` and the
// operation lines of `raftlog txn` take them: the keys (KEY, an optional RANGE_END, --prefix,
// --from-key) and, for a get, --rev, --limit, --keys-only, --count-only, --sort-by, --order.
import { UsageError } from '../command.js'
import type { DeleteRangeOptions, RangeOptions } from '../../kv/kv-client.js'
import type { SortOrder, SortTarget } from '../../kv/kv-txn.js'

/** parseArgs options of a get (beside the span flags). */
export const getFlagOptions = {
  prefix: { type: 'boolean' },
  'from-key': { type: 'boolean' },
  rev: { type: 'string' },
  limit: { type: 'string' },
  'keys-only': { type: 'boolean' },
  'count-only': { type: 'boolean' },
  'sort-by': { type: 'string' },
  order: { type: 'string' },
} as const

/** parseArgs options of a delete. */
export const delFlagOptions = {
  prefix: { type: 'boolean' },
  'from-key': { type: 'boolean' },
  'prev-kv': { type: 'boolean' },
} as const

export interface GetFlags {
  prefix?: boolean | undefined
  'from-key'?: boolean | undefined
  rev?: string | undefined
  limit?: string | undefined
  'keys-only'?: boolean | undefined
  'count-only'?: boolean | undefined
  'sort-by'?: string | undefined
  order?: string | undefined
}

export interface DelFlags {
  prefix?: boolean | undefined
  'from-key'?: boolean | undefined
  'prev-kv'?: boolean | undefined
}

/** The help lines of the get flags (kv get; --prefix and --from-key for kv del too). */
export const getFlagsHelp = `  --prefix                 get, del: every key starting with KEY (an empty KEY: every key)
  --from-key               get, del: every key from KEY up, in byte order
  --rev N                  get: read as the store was at revision N (refused, naming the oldest
                           revision kept, when N was compacted; or when N is in the future)
  --limit N                get: at most N keys; scan: at most N keys
  --keys-only              get: keys without their values
  --count-only             get: only how many keys there are
  --sort-by T              get: sort by KEY, CREATE, MODIFY, VALUE or VERSION (the revisions a
                           key was created and last modified, its value, its version)
  --order O                get: ASCEND (the default with --sort-by) or DESCEND`

const sortTargets: Record<string, SortTarget> = { KEY: 'key', CREATE: 'create', MODIFY: 'mod', VALUE: 'value', VERSION: 'version' }
const sortOrders: Record<string, SortOrder> = { ASCEND: 'ascend', DESCEND: 'descend' }

function wholeNumber(flag: string, text: string, min: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) throw new UsageError(`${flag} must be a whole number from ${min}, got '${text}'`)
  return Number(text)
}

/** Whether the flags or a RANGE_END ask for more than one key. */
export function isRange(flags: { prefix?: boolean | undefined; 'from-key'?: boolean | undefined }, rangeEnd: Buffer | undefined): boolean {
  return flags.prefix === true || flags['from-key'] === true || rangeEnd !== undefined
}

/** Whether any get flag beyond the span is given (a get that today's single-key read cannot answer). */
export function hasGetFlags(flags: GetFlags): boolean {
  return (['rev', 'limit', 'keys-only', 'count-only', 'sort-by', 'order'] as const).some((name) => flags[name] !== undefined) || isRange(flags, undefined)
}

function span(key: Buffer, rangeEnd: Buffer | undefined, flags: { prefix?: boolean | undefined; 'from-key'?: boolean | undefined }, what: string): Pick<RangeOptions, 'key' | 'rangeEnd' | 'prefix' | 'fromKey'> {
  const ways = [flags.prefix === true ? '--prefix' : '', flags['from-key'] === true ? '--from-key' : '', rangeEnd !== undefined ? 'RANGE_END' : ''].filter((way) => way !== '')
  if (ways.length > 1) throw new UsageError(`${what}: ${ways.join(' and ')} do not go together: give one`)
  if (key.length === 0 && ways.length === 0) throw new UsageError(`${what}: the KEY is empty (with --prefix, an empty KEY means every key)`)
  if (flags.prefix === true) return { key, prefix: true }
  if (flags['from-key'] === true) return { key, fromKey: true }
  if (rangeEnd !== undefined) return { key, rangeEnd }
  return { key }
}

/** A get's RangeOptions from its key, optional range end and flags; `what` names it in refusals ("kv get", "line 4"). */
export function rangeOptionsFrom(key: Buffer, rangeEnd: Buffer | undefined, flags: GetFlags, what: string): RangeOptions {
  const options: RangeOptions = span(key, rangeEnd, flags, what)
  if (flags.rev !== undefined) options.revision = wholeNumber(`${what}: --rev`, flags.rev, 1)
  if (flags.limit !== undefined) options.limit = wholeNumber(`${what}: --limit`, flags.limit, 1)
  if (flags['keys-only'] === true) options.keysOnly = true
  if (flags['count-only'] === true) options.countOnly = true
  if (flags['sort-by'] !== undefined) {
    const target = sortTargets[flags['sort-by'].toUpperCase()]
    if (target === undefined) throw new UsageError(`${what}: --sort-by must be KEY, CREATE, MODIFY, VALUE or VERSION, got '${flags['sort-by']}'`)
    options.sortTarget = target
    options.sortOrder = 'ascend'
  }
  if (flags.order !== undefined) {
    const order = sortOrders[flags.order.toUpperCase()]
    if (order === undefined) throw new UsageError(`${what}: --order must be ASCEND or DESCEND, got '${flags.order}'`)
    options.sortOrder = order
  }
  return options
}

/** A delete's DeleteRangeOptions from its key, optional range end and flags. */
export function deleteOptionsFrom(key: Buffer, rangeEnd: Buffer | undefined, flags: DelFlags, what: string): DeleteRangeOptions {
  return { ...span(key, rangeEnd, flags, what), ...(flags['prev-kv'] === true ? { prevKv: true } : {}) }
}
