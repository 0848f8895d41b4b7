// Which group owns a key, when raftlog's key-value store is spread over G groups: hash sharding,
// FNV-1a (32 bits) of the key's bytes, modulo G, plus one (groups are numbered from 1). Every key
// has one owner whatever the cluster's state, so a client needs only G to route a key; the price
// is that a scan asks every group and merges their answers in key order, and a transaction must
// keep to one group's keys.
import { kvBuffer, type KvBytes } from '../kv-bytes.js'

const fnvOffset = 0x811c9dc5
const fnvPrime = 0x01000193

/** The group (1 to `groups`) that owns `key`. */
export function shardOf(key: KvBytes, groups: number): number {
  let hash = fnvOffset
  for (const byte of kvBuffer(key)) {
    hash ^= byte
    hash = Math.imul(hash, fnvPrime) >>> 0
  }
  return (hash % groups) + 1
}
