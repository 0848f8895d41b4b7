// etcd's election recipe (clientv3/concurrency Election), run on the leader: campaigning is
// taking a lock under NAME/ whose key holds the candidate's value; the key created first leads.
// The leader key's create revision is the leadership's fencing token.
import { RaftLogError } from '../../errors.js'
import type { KeyValue } from '../kv-txn.js'
import { inQueue, waitTurn } from './lock-recipe.js'
import { firstCreated, nextEvent, putOp, type RecipeHost } from './recipe-host.js'

/** Who leads: the key, its create revision (the fencing token) and the lease it is attached to. */
export interface LeaderKey {
  name: Buffer
  key: Buffer
  rev: number
  lease: number
}

export function electionPrefix(name: Buffer): Buffer {
  return Buffer.concat([name, Buffer.from('/')])
}

/**
 * Waits until the caller leads election `name` with `value`; a caller that campaigned before with
 * this lease takes up its own key, with the new value at once (etcd proclaims it before waiting).
 * When it fails (or `signal` aborts) the key is deleted, as etcd's Campaign resigns.
 */
export async function campaign(host: RecipeHost, name: Buffer, lease: number, value: Buffer, signal: AbortSignal): Promise<LeaderKey> {
  const prefix = electionPrefix(name)
  return inQueue(host, prefix, lease, value, signal, async (queued) => {
    const leader = { name, key: queued.key, rev: queued.createRevision, lease }
    if (queued.value !== undefined && !queued.value.equals(value)) await proclaim(host, leader, value)
    await waitTurn(host, prefix, lease, queued, signal)
    return leader
  })
}

/**
 * Sets the leader's value. ERR_NOT_ELECTION_LEADER when `leader` no longer leads (its key is gone
 * or another), or does not name the key's lease: the put would move the key to that lease (to none,
 * for lease 0: a leader no lease's end removes), and rev 0 would create the key.
 */
export async function proclaim(host: RecipeHost, leader: LeaderKey, value: Buffer): Promise<void> {
  if (!(leader.rev > 0)) throw notLeader(leader)
  const compare = [
    { key: leader.key, rangeEnd: Buffer.alloc(0), target: 'create' as const, result: 'equal' as const, operand: leader.rev },
    { key: leader.key, rangeEnd: Buffer.alloc(0), target: 'lease' as const, result: 'equal' as const, operand: leader.lease },
  ]
  const outcome = await host.txn({ compare, success: [putOp(leader.key, value, leader.lease)], failure: [] })
  if (!outcome.succeeded) throw notLeader(leader)
}

/**
 * Gives leadership up: deletes the leader key if it is still the one created at `leader.rev`.
 * Answers alike when it is not (resigned already, a later key, another key), as etcd's Resign does:
 * either way `leader` leads no more, which is what the caller asked for.
 */
export async function resign(host: RecipeHost, leader: LeaderKey): Promise<void> {
  await host.txn({ compare: [{ key: leader.key, rangeEnd: Buffer.alloc(0), target: 'create', result: 'equal', operand: leader.rev }], success: [{ deleteRange: { key: leader.key, rangeEnd: Buffer.alloc(0), prevKv: false } }], failure: [] })
}

/** The leader's key and value now (after a ReadIndex). ERR_NO_ELECTION_LEADER when no one leads. */
export async function leaderOf(host: RecipeHost, name: Buffer): Promise<KeyValue> {
  await host.read()
  const leader = firstCreated(host, electionPrefix(name))
  if (leader === undefined) throw new RaftLogError('ERR_NO_ELECTION_LEADER', `No one leads election ${name.toString()}`)
  return leader
}

/**
 * Calls `each` with the leader's key and value now and each time either changes, until `signal`
 * aborts (then it resolves) or the history no longer reaches back (ERR_COMPACTED).
 */
export async function observe(host: RecipeHost, name: Buffer, signal: AbortSignal, each: (leader: KeyValue) => void): Promise<void> {
  const prefix = electionPrefix(name)
  await host.read()
  try {
    for (;;) {
      let revision = host.kv.revision
      let leader = firstCreated(host, prefix)
      if (leader === undefined) {
        // No one leads: the first key put under the prefix will.
        await nextEvent(host, prefix, revision + 1, signal, (event) => event.change.value !== undefined, true)
        revision = host.kv.revision
        leader = firstCreated(host, prefix)
        if (leader === undefined) continue
      }
      each(leader)
      // Follow this leader's key: a new value is news, its deletion hands over to the next.
      for (let current = leader; ; ) {
        const event = await nextEvent(host, current.key, revision + 1, signal, () => true)
        revision = event.change.mod
        if (event.change.value === undefined) break
        current = { ...current, value: Buffer.from(event.change.value, 'latin1'), modRevision: event.change.mod, version: event.change.version }
        each(current)
      }
    }
  } catch (error) {
    if ((error as RaftLogError).code !== 'ERR_CANCELLED') throw error
  }
}

function notLeader(leader: LeaderKey): RaftLogError {
  return new RaftLogError('ERR_NOT_ELECTION_LEADER', `${leader.key.toString()} (created at revision ${leader.rev}) no longer leads election ${leader.name.toString()}`)
}

