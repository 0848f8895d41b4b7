// An entry of a `raftlog node` log in words, for `dump --format kv`: the client-session envelope
// (session-envelope.ts) and the key-value command inside it (kv-state-machine.ts).
import { decodeKvCommand, type KvCommand } from '../../kv/kv-state-machine.js'
import type { RequestOp, TxnRequest } from '../../kv/kv-txn.js'
import { decodeEnvelope } from '../../session/session-envelope.js'
import { EntryType } from '../../storage/log-entry.js'
import { decodeConfiguration, describeConfiguration } from '../../raft/core/configuration.js'
import { describeBytes as quote } from './encoding.js'

export function describeKvCommand(command: KvCommand<Buffer>): string {
  switch (command.op) {
    case 'put':
      return `put ${quote(command.key)} ${quote(command.value)}${command.previous === true ? ' (answering the previous value)' : ''}`
    case 'get':
    case 'delete':
      return `${command.op} ${quote(command.key)}`
    case 'cas':
      return `cas ${quote(command.key)} ${command.expected === null ? 'absent' : quote(command.expected)} ${quote(command.value)}`
    case 'batch':
      return `batch of ${command.puts.length} put${command.puts.length === 1 ? '' : 's'}: ${command.puts.map((put) => `${quote(put.key)} ${quote(put.value)}`).join(', ')}`
    case 'txn':
      return `etcd ${describeTxn(command.txn)}`
    case 'compact':
      return `etcd compaction up to revision ${command.revision}`
    case 'leaseGrant':
      return `lease grant ${command.id} for ${command.ttl} s`
    case 'leaseRevoke':
      return `lease revoke ${command.id} (revoked, or expired), deleting its keys`
    case 'leaseCheckpoint':
      return `lease checkpoint: ${command.checkpoints.map(({ id, remaining }) => (remaining === 0 ? `${id} kept alive` : `${id} ${remaining} s left`)).join(', ')}`
  }
}

/** An etcd transaction: a put or delete alone reads as itself, otherwise its compares and branches. */
function describeTxn(txn: TxnRequest): string {
  const only = txn.success[0]
  if (txn.compare.length === 0 && txn.failure.length === 0 && txn.success.length === 1 && only !== undefined && !('txn' in only)) return describeOp(only)
  const compares = txn.compare.map((c) => `${c.target}(${quote(c.key)}${c.rangeEnd.length > 0 ? `..${quote(c.rangeEnd)}` : ''}) ${c.result} ${typeof c.operand === 'number' ? c.operand : quote(c.operand)}`)
  return `txn if [${compares.join(', ')}] then [${txn.success.map(describeOp).join(', ')}] else [${txn.failure.map(describeOp).join(', ')}]`
}

function describeOp(op: RequestOp): string {
  const end = (rangeEnd: Buffer): string => (rangeEnd.length > 0 ? `..${quote(rangeEnd)}` : '')
  if ('put' in op) return `put ${quote(op.put.key)} ${quote(op.put.value)}`
  if ('deleteRange' in op) return `delete ${quote(op.deleteRange.key)}${end(op.deleteRange.rangeEnd)}`
  if ('range' in op) return `range ${quote(op.range.key)}${end(op.range.rangeEnd)}`
  return describeTxn(op.txn)
}

/** What a key-value command's bytes say, or why they are not one. */
function describePayload(payload: Uint8Array): string {
  try {
    return describeKvCommand(decodeKvCommand(payload))
  } catch (error) {
    return `not a key-value command (${(error as Error).message}): base64:${Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('base64')}`
  }
}

/** A membership entry: who votes, who learns, and where each listens. */
function describeConfigEntry(data: Uint8Array): string {
  try {
    const config = decodeConfiguration(data)
    // A many-group replica's configuration names hosts, whose addresses the catalog holds: none here.
    const addresses = Object.entries(config.addresses)
      .filter(([, address]) => address !== '')
      .map(([id, address]) => `${id}@${address}`)
    return `configuration: ${describeConfiguration(config)}${addresses.length > 0 ? ` (${addresses.join(', ')})` : ''}`
  } catch (error) {
    return `configuration entry that cannot be read (${(error as Error).message}), ${data.length} bytes`
  }
}

/** One entry of a key-value node's log, in words. */
export function describeKvEntry(index: number, type: EntryType, data: Uint8Array): string {
  if (type === EntryType.NoOp) return 'no-op (a new leader\'s first entry)'
  if (type === EntryType.Config) return describeConfigEntry(data)
  if (type !== EntryType.Normal) return `type ${type} entry, ${data.length} bytes`
  let envelope: ReturnType<typeof decodeEnvelope>
  try {
    envelope = decodeEnvelope(data)
  } catch (error) {
    return `not a session entry (${(error as Error).message})`
  }
  switch (envelope.kind) {
    case 'open':
      return `open session: client ${index}`
    case 'keep-alive':
      return `keep session alive: client ${envelope.clientId}`
    case 'command':
      return `client ${envelope.clientId} #${envelope.sequence}: ${describePayload(envelope.payload)}`
    case 'plain':
      return describePayload(envelope.payload)
  }
}
