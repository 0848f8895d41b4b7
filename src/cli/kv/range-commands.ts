// `raftlog kv get` with etcdctl's flags (a range, an older revision, keys or a count only, a
// limit, an order) and `raftlog kv del` (a key, a range or a prefix, with the key-values it
// deleted), through KvClient's range and deleteRange.
import { UsageError } from '../command.js'
import { timeoutFrom } from '../endpoints.js'
import { RaftLogError } from '../../errors.js'
import type { KvClient } from '../../kv/kv-client.js'
import { unknownOutcomeStatus } from '../unknown-outcome.js'
import { bytesFrom, describeBytes, outputOf, type KvEncoding } from './encoding.js'
import { deleteOptionsFrom, isRange, rangeOptionsFrom, type DelFlags, type GetFlags } from './range-flags.js'
import { deleteText, kvJson, rangeJson, rangeText } from './etcd-output.js'

interface Common {
  timeout?: string | undefined
  json?: boolean | undefined
}

/** ERR_COMPACTED and ERR_FUTURE_REVISION with their code: the message names the revision. */
export function revisionRefusal(error: unknown): never {
  if (error instanceof RaftLogError && (error.code === 'ERR_COMPACTED' || error.code === 'ERR_FUTURE_REVISION')) throw new RaftLogError(error.code, `${error.code}: ${error.message}`)
  throw error
}

/**
 * `kv get KEY [RANGE_END]` with etcdctl's flags. One key (no --prefix, --from-key or RANGE_END)
 * prints as today's get does: its value, exit 1 when absent. A range prints each key and value
 * on lines of their own, as etcdctl does, exit 0 even when it holds no key.
 */
export async function runRangeGet(client: KvClient, words: string[], flags: GetFlags & Common, encoding: KvEncoding): Promise<number> {
  const [, keyText, endText, ...extra] = words
  if (keyText === undefined || extra.length > 0) throw new UsageError('usage: raftlog kv get KEY [RANGE_END] [--prefix | --from-key] [--rev N] [--limit N] [--keys-only] [--count-only] [--sort-by T] [--order O]')
  const key = bytesFrom(keyText, encoding, 'KEY')
  const end = endText === undefined ? undefined : bytesFrom(endText, encoding, 'RANGE_END')
  const options = rangeOptionsFrom(key, end, flags, 'kv get')
  const answer = await client.range(options, timeoutFrom(flags.timeout)).catch(revisionRefusal)
  const keysOnly = options.keysOnly === true
  const countOnly = options.countOnly === true
  if (flags.json === true) {
    console.log(JSON.stringify(rangeJson(answer, keysOnly, encoding)))
    return !isRange(flags, end) && !countOnly && answer.kvs.length === 0 ? 1 : 0
  }
  if (!isRange(flags, end) && !countOnly) {
    const kv = answer.kvs[0]
    if (kv === undefined) {
      console.error(`(absent) ${keyText}${options.revision === undefined ? '' : ` at revision ${options.revision}`}`)
      return 1
    }
    process.stdout.write(Buffer.concat([outputOf(keysOnly ? kv.key : kv.value, encoding), Buffer.from('\n')]))
    return 0
  }
  process.stdout.write(rangeText(answer, { keysOnly, countOnly }, encoding))
  return 0
}

/** `kv del KEY [RANGE_END] [--prefix | --from-key] [--prev-kv]`: prints how many keys it deleted (and, with --prev-kv, each key and value). */
export async function runDel(client: KvClient, words: string[], flags: DelFlags & Common, encoding: KvEncoding): Promise<number> {
  const [, keyText, endText, ...extra] = words
  if (keyText === undefined || extra.length > 0) throw new UsageError('usage: raftlog kv del KEY [RANGE_END] [--prefix | --from-key] [--prev-kv]')
  const key = bytesFrom(keyText, encoding, 'KEY')
  const end = endText === undefined ? undefined : bytesFrom(endText, encoding, 'RANGE_END')
  const options = deleteOptionsFrom(key, end, flags, 'kv del')
  let answer
  try {
    answer = await client.deleteRange(options, timeoutFrom(flags.timeout))
  } catch (error) {
    if ((error as RaftLogError).code !== 'ERR_UNKNOWN_OUTCOME') throw error
    console.error(`Error: del ${encoding === 'utf8' ? describeBytes(key) : keyText}: ${(error as Error).message}`)
    return unknownOutcomeStatus
  }
  if (flags.json === true) {
    console.log(JSON.stringify({ revision: answer.revision, deleted: answer.deleted, prevKvs: answer.prevKvs.map((kv) => kvJson(kv, false, encoding)) }))
  } else {
    process.stdout.write(deleteText(answer.deleted, answer.prevKvs, encoding))
  }
  return 0
}
