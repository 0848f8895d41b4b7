// raftlog's key-value store over G groups, from a client: each key goes to the group that owns it
// (shard-of.ts), at that group's leader (HostClient finds and remembers it); a scan reads every
// group and merges the keys in byte order; a transaction keeps to one group.
import type * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../errors.js'
import { HostClient } from '../../net/client/host-client.js'
import type { PeerAddress } from '../../net/transport/grpc-transport.js'
import { kvBuffer, type KvBytes } from '../kv-bytes.js'
import { decodeKvResult, decodeTxnResult, encodeKvCommand } from '../kv-state-machine.js'
import { decodeKvScanResult, encodeKvQuery, maxScanKeys } from '../kv-query.js'
import { txnRequest, type TxnOptions } from '../kv-client.js'
import { txnKeys, type TxnOutcome, type TxnRequest } from '../kv-txn.js'
import { shardOf } from './shard-of.js'

export class ShardedKvClient {
  private readonly hosts: HostClient

  /** `groups`: how many groups the store is spread over (the hosts' `groups`); `credentials`: HostClient's (default plaintext). */
  constructor(
    hosts: readonly PeerAddress[],
    readonly groups: number,
    private readonly timeoutMs = 5000,
    credentials?: grpc.ChannelCredentials,
  ) {
    if (!Number.isSafeInteger(groups) || groups < 1) throw new RaftLogError('ERR_BAD_ARGUMENT', `groups must be a whole number from 1, got ${String(groups)}`)
    this.hosts = new HostClient(hosts, credentials)
  }

  /** The group that owns `key`. */
  groupOf(key: KvBytes): number {
    return shardOf(key, this.groups)
  }

  async put(key: KvBytes, value: KvBytes): Promise<void> {
    await this.hosts.propose(this.groupOf(key), encodeKvCommand({ op: 'put', key, value }), this.timeoutMs)
  }

  /** The value of `key` (null: absent), linearizable (a ReadIndex at its group). */
  async get(key: KvBytes): Promise<Buffer | null> {
    const result = decodeKvResult(await this.hosts.read(this.groupOf(key), encodeKvQuery({ op: 'get', key }), this.timeoutMs))
    return result.value ?? null
  }

  /** Whether `key` was there. */
  async delete(key: KvBytes): Promise<boolean> {
    return decodeKvResult(await this.hosts.propose(this.groupOf(key), encodeKvCommand({ op: 'delete', key }), this.timeoutMs)).ok
  }

  /** Sets `key` to `value` if it holds `expected` (null: if absent); answers whether it did. */
  async cas(key: KvBytes, expected: KvBytes | null, value: KvBytes): Promise<boolean> {
    return decodeKvResult(await this.hosts.propose(this.groupOf(key), encodeKvCommand({ op: 'cas', key, expected, value }), this.timeoutMs)).ok
  }

  /**
   * Every key starting with `prefix` and its value, in byte order, from every group (each group's
   * pages linearizable on their own: a scan is not one snapshot of the whole store), at most `limit`.
   */
  async scan(prefix: KvBytes, limit = Number.MAX_SAFE_INTEGER): Promise<[Buffer, Buffer][]> {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RaftLogError('ERR_BAD_ARGUMENT', `ShardedKvClient.scan: limit must be a whole number, 0 or more, got ${String(limit)}`)
    // The hosts refuse a page of 0 keys: nothing asked, nothing to ask them.
    if (limit === 0) return []
    const perGroup = await Promise.all(Array.from({ length: this.groups }, (_, g) => this.scanGroup(g + 1, prefix, limit)))
    return perGroup
      .flat()
      .sort(([a], [b]) => Buffer.compare(a, b))
      .slice(0, limit)
  }

  /**
   * etcd's transaction, on one group: every key it names must belong to the same group
   * (ERR_BAD_ARGUMENT naming two keys of different groups otherwise), as a transaction across
   * groups would need a commit protocol between them that raftlog does not have.
   */
  async txn(options: TxnOptions): Promise<TxnOutcome> {
    const txn = txnRequest(options, 'ShardedKvClient.txn')
    // A range spans groups, which one group cannot answer for.
    if (hasRange(txn)) throw new RaftLogError('ERR_BAD_ARGUMENT', 'ShardedKvClient.txn: a compare or operation over a range of keys spans groups: name single keys')
    // txnKeys lists range ends too: here they are all empty.
    const keys = txnKeys(txn).filter((key) => key.length > 0)
    const first = keys[0]
    if (first === undefined) throw new RaftLogError('ERR_BAD_ARGUMENT', 'ShardedKvClient.txn: a transaction names no key, so no group owns it')
    const group = this.groupOf(first)
    const stranger = keys.find((key) => this.groupOf(key) !== group)
    if (stranger !== undefined) throw new RaftLogError('ERR_BAD_ARGUMENT', `ShardedKvClient.txn: ${JSON.stringify(first.toString())} belongs to group ${group} and ${JSON.stringify(stranger.toString())} to group ${this.groupOf(stranger)}: a transaction keeps to one group's keys`)
    return decodeTxnResult(await this.hosts.propose(group, encodeKvCommand({ op: 'txn', txn }), this.timeoutMs))
  }

  /** A key-value command (kv-state-machine.ts) proposed at the group that owns `key`; the state machine's answer. */
  proposeFor(key: KvBytes, command: Uint8Array): Promise<Buffer> {
    return this.hosts.propose(this.groupOf(key), command, this.timeoutMs)
  }

  /** A read query (kv-query.ts) answered by the group that owns `key`, after a ReadIndex. */
  readFor(key: KvBytes, query: Uint8Array): Promise<Buffer> {
    return this.hosts.read(this.groupOf(key), query, this.timeoutMs)
  }

  close(): void {
    this.hosts.close()
  }

  private async scanGroup(group: number, prefix: KvBytes, limit: number): Promise<[Buffer, Buffer][]> {
    const pairs: [Buffer, Buffer][] = []
    let after: Buffer | undefined
    for (;;) {
      const page = decodeKvScanResult(await this.hosts.read(group, encodeKvQuery({ op: 'scan', prefix: kvBuffer(prefix), limit: Math.min(limit, maxScanKeys), ...(after === undefined ? {} : { after }) }), this.timeoutMs))
      pairs.push(...page.pairs)
      if (!page.more || pairs.length >= limit) return pairs
      after = (page.pairs.at(-1) as [Buffer, Buffer])[0]
    }
  }
}

/** Whether a compare or operation of `txn` (or of a transaction in it) covers a range of keys. */
function hasRange(txn: TxnRequest): boolean {
  if (txn.compare.some((compare) => compare.rangeEnd.length > 0)) return true
  return [...txn.success, ...txn.failure].some((op) => ('txn' in op ? hasRange(op.txn) : 'range' in op ? op.range.rangeEnd.length > 0 : 'deleteRange' in op ? op.deleteRange.rangeEnd.length > 0 : false))
}
