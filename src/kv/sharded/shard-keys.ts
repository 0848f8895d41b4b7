// Whether a key-value command proposed to one of the store's groups names only keys that group
// owns (shard-of.ts). The hosts check it before the log: a client that routes by another group
// count, or proposes by hand, would otherwise leave a key in a group no get asks and every scan
// reads, which then lists the key twice with two values.
import { decodeKvCommand, type KvCommand } from '../kv-state-machine.js'
import type { TxnRequest } from '../kv-txn.js'
import { shardOf } from './shard-of.js'

/** Why `bytes` may not be proposed to shard `group` of `shards`, or undefined (also for a group that is not a shard, or bytes that are not a command: kvCommandProblem says why). */
export function shardKeyProblem(bytes: Uint8Array, group: number, shards: number): string | undefined {
  if (group < 1 || group > shards) return undefined
  let command: KvCommand<Buffer>
  try {
    command = decodeKvCommand(bytes)
  } catch {
    return undefined
  }
  const stranger = singleKeys(command).find((key) => shardOf(key, shards) !== group)
  if (stranger === undefined) return undefined
  return `Key ${JSON.stringify(stranger.toString())} belongs to group ${shardOf(stranger, shards)}, not to group ${group} (of ${shards} key-value groups)`
}

/** The single keys `command` names; a range (a non-empty range end) covers only the keys of the group it reaches. */
function singleKeys(command: KvCommand<Buffer>): Buffer[] {
  if (command.op === 'batch') return command.puts.map((put) => put.key)
  if (command.op === 'txn') return txnSingleKeys(command.txn)
  return 'key' in command ? [command.key] : []
}

function txnSingleKeys(txn: TxnRequest): Buffer[] {
  const keys = txn.compare.filter((compare) => compare.rangeEnd.length === 0).map((compare) => compare.key)
  for (const op of [...txn.success, ...txn.failure]) {
    if ('txn' in op) keys.push(...txnSingleKeys(op.txn))
    else if ('put' in op) keys.push(op.put.key)
    else if ('range' in op) keys.push(...(op.range.rangeEnd.length === 0 ? [op.range.key] : []))
    else if (op.deleteRange.rangeEnd.length === 0) keys.push(op.deleteRange.key)
  }
  return keys
}
