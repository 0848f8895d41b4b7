// How `raftlog kv get` (of a range), `kv del` and `raftlog txn` print etcd's answers: as
// etcdctl's simple output does (a key-value as a key line and a value line; a delete as its
// count; a put as OK), or as JSON with every field, keys and values in the --encoding.
import type { KeyValue, ResponseOp, TxnOutcome } from '../../kv/kv-txn.js'
import type { RangeAnswer } from '../../kv/kv-query.js'
import { describeBytes, outputOf, textOf, type KvEncoding } from './encoding.js'

const newline = Buffer.from('\n')

/** KEY and VALUE lines of each key-value (keys only: the KEY lines). */
export function kvLines(kvs: readonly KeyValue[], keysOnly: boolean, encoding: KvEncoding): Buffer[] {
  const lines: Buffer[] = []
  for (const kv of kvs) {
    lines.push(outputOf(kv.key, encoding), newline)
    if (!keysOnly) lines.push(outputOf(kv.value, encoding), newline)
  }
  return lines
}

/** A key-value as JSON: key and value in the encoding (the value left out for keys only), its revisions and version. */
export function kvJson(kv: KeyValue, keysOnly: boolean, encoding: KvEncoding): Record<string, unknown> {
  const key = textOf(kv.key, encoding, 'Key')
  return {
    key,
    ...(keysOnly ? {} : { value: textOf(kv.value, encoding, `The value of ${encoding === 'utf8' ? describeBytes(kv.key) : key}`) }),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
  }
}

/** A range's answer as text: the count alone for --count-only, else the key-values. */
export function rangeText(answer: RangeAnswer, options: { keysOnly: boolean; countOnly: boolean }, encoding: KvEncoding): Buffer {
  if (options.countOnly) return Buffer.from(`${answer.count}\n`)
  return Buffer.concat(kvLines(answer.kvs, options.keysOnly, encoding))
}

export function rangeJson(answer: RangeAnswer, keysOnly: boolean, encoding: KvEncoding): Record<string, unknown> {
  return { revision: answer.revision, count: answer.count, more: answer.more, kvs: answer.kvs.map((kv) => kvJson(kv, keysOnly, encoding)) }
}

/** A delete's answer as etcdctl prints it: the count, then the previous key-values when asked. */
export function deleteText(deleted: number, prevKvs: readonly KeyValue[], encoding: KvEncoding): Buffer {
  return Buffer.concat([Buffer.from(`${deleted}\n`), ...kvLines(prevKvs, false, encoding)])
}

/** One response of a transaction as etcdctl prints it (put: OK and the previous key-value; delete: the count; range: the key-values). */
function responseText(response: ResponseOp, encoding: KvEncoding): Buffer {
  if ('put' in response) return Buffer.concat([Buffer.from('OK\n'), ...kvLines(response.put.prevKv === undefined ? [] : [response.put.prevKv], false, encoding)])
  if ('deleteRange' in response) return deleteText(response.deleteRange.deleted, response.deleteRange.prevKvs, encoding)
  if ('range' in response) return Buffer.concat(kvLines(response.range.kvs, false, encoding))
  return Buffer.concat([Buffer.from(response.txn.succeeded ? 'SUCCESS\n' : 'FAILURE\n'), ...response.txn.responses.flatMap((inner) => [newline, responseText(inner, encoding)])])
}

/** SUCCESS or FAILURE, then each response after a blank line (etcdctl's txn output). */
export function txnText(outcome: TxnOutcome, encoding: KvEncoding): Buffer {
  return Buffer.concat([Buffer.from(outcome.succeeded ? 'SUCCESS\n' : 'FAILURE\n'), ...outcome.responses.flatMap((response) => [newline, responseText(response, encoding)])])
}

function responseJson(response: ResponseOp, encoding: KvEncoding): Record<string, unknown> {
  if ('put' in response) return { put: response.put.prevKv === undefined ? {} : { prevKv: kvJson(response.put.prevKv, false, encoding) } }
  if ('deleteRange' in response) return { deleteRange: { deleted: response.deleteRange.deleted, prevKvs: response.deleteRange.prevKvs.map((kv) => kvJson(kv, false, encoding)) } }
  if ('range' in response) return { range: { count: response.range.count, more: response.range.more, kvs: response.range.kvs.map((kv) => kvJson(kv, false, encoding)) } }
  return { txn: { succeeded: response.txn.succeeded, responses: response.txn.responses.map((inner) => responseJson(inner, encoding)) } }
}

export function txnJson(outcome: TxnOutcome, encoding: KvEncoding): Record<string, unknown> {
  return { succeeded: outcome.succeeded, revision: outcome.revision, responses: outcome.responses.map((response) => responseJson(response, encoding)) }
}
