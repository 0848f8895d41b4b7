// Watch, leases and locks on real processes under a nemesis: three `raftlog node` processes, a
// nemesis that kills, pauses and restarts them, and clients that write, watch, hold a lease and
// take a lock, all through ClusterClient (etcd's API on the nodes' ports). What is checked, as
// etcd's robustness tests check watch (ordered, unique, atomic, reliable, resumable):
// - every watcher sees every acknowledged write exactly once, in revision order, with no gap and
//   nothing that was not written, and all watchers see the same sequence;
// - a key attached to a lease kept alive never vanishes while the lease is not reported lost (with
//   lease checkpoints every second, so a new leader counts from them and keep-alives reset them);
// - two lock holders never hold at once, every holder's fencing token is larger than the last,
//   and a stale holder's fenced write is refused.
import { describe, expect, it } from 'vitest'
import { tempDir } from '../helpers/temp-dir.js'
import { exited, startNode, waitFor, writeConfig, type NodeProcess } from '../helpers/processes.js'
import { ClusterClient, type WatchEvent } from '../../src/net/client/cluster-client.js'
import { decodeTxnResult, encodeKvCommand } from '../../src/kv/kv-state-machine.js'
import type { RequestOp, TxnRequest } from '../../src/kv/kv-txn.js'
import type { RaftLogError } from '../../src/errors.js'
import { seededRandom } from '../../src/raft/core/seeded-random.js'

const seed = process.env.RAFT_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.RAFT_SEED)
const loadMs = 15_000
const b = (text: string): Buffer => Buffer.from(text)
const putOp = (key: string, value: string, lease = 0): RequestOp => ({ put: { key: b(key), value: b(value), lease, prevKv: false, ignoreValue: false, ignoreLease: false } })
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function txn(client: ClusterClient, request: TxnRequest): Promise<{ succeeded: boolean; revision: number }> {
  return decodeTxnResult(await client.propose(encodeKvCommand({ op: 'txn', txn: request }), 4000))
}

describe(`watch, leases and locks with real processes and a nemesis (RAFT_SEED=${seed})`, () => {
  it('watchers miss nothing and repeat nothing, leased keys outlive nothing, lock holders never overlap', async () => {
    const random = seededRandom(seed)
    const dir = tempDir('raftlog-coordination-nemesis-')
    const { path: config, ports } = await writeConfig(dir, 3, { snapshot_threshold: 300, snapshot_trailing_entries: 100, lease_checkpoint_interval_ms: 1000 })
    const nodes = new Map<number, NodeProcess>([1, 2, 3].map((id) => [id, startNode(config, id)]))
    const endpoints = ports.map((port) => `127.0.0.1:${port}`)
    const observer = new ClusterClient(endpoints, [1, 2, 3])
    const clients: ClusterClient[] = []
    const client = (): ClusterClient => {
      const made = new ClusterClient(endpoints)
      clients.push(made)
      return made
    }
    const stopAt = Date.now() + loadMs
    try {
      await waitFor('a leader', async () => ((await observer.statuses(1000)).some((s) => s.role === 'leader') ? true : undefined))
      const start = (await txn(observer, { compare: [], success: [putOp('start', 'x')], failure: [] })).revision

      // Watchers on the prefix every writer writes under, from the first revision on.
      const watched = [client(), client()].map((watcher) => {
        const events: WatchEvent[] = []
        const stream = watcher.watch('w/', { prefix: true, startRevision: start + 1 })
        const done = (async () => {
          for await (const batch of stream) events.push(...batch.events)
        })()
        return { events, stream, done }
      })

      // Writers: unique values, so each event names the write that made it.
      const acknowledged = new Map<string, number>()
      const issued = new Set<string>()
      let nextValue = 1
      const writer = async (): Promise<void> => {
        const writes = client()
        while (Date.now() < stopAt) {
          const value = `v${nextValue++}`
          const key = `w/${Math.floor(random() * 4)}`
          issued.add(value)
          try {
            acknowledged.set(value, (await txn(writes, { compare: [], success: [putOp(key, value)], failure: [] })).revision)
          } catch (error) {
            if (!['ERR_NO_LEADER', 'ERR_UNKNOWN_OUTCOME'].includes((error as RaftLogError).code)) throw error
          }
        }
      }

      // A lease kept alive the whole time, with a key on it.
      const holder = client()
      const lease = await holder.grantLease(3)
      await txn(holder, { compare: [], success: [putOp('leased', 'here', lease.id)], failure: [] })
      const leasedEvents: WatchEvent[] = []
      const leaseWatch = holder.watch('leased')
      const leaseWatching = (async () => {
        for await (const batch of leaseWatch) leasedEvents.push(...batch.events.map((event) => ({ ...event, lostBefore: lease.lost !== undefined }) as WatchEvent))
      })()

      // Lockers: hold, write fenced, release; record each hold's interval and token.
      const holds: { locker: number; token: number; from: number; to: number; fencedWrite: boolean }[] = []
      const stale: { token: number; accepted: boolean }[] = []
      await txn(observer, { compare: [], success: [putOp('fence', '0'.padStart(12, '0'))], failure: [] })
      const fenced = (locks: ClusterClient, token: number) =>
        txn(locks, { compare: [{ key: b('fence'), rangeEnd: Buffer.alloc(0), target: 'value', result: 'less', operand: b(String(token).padStart(12, '0')) }], success: [putOp('fence', String(token).padStart(12, '0'))], failure: [] })
      const locker = async (id: number): Promise<void> => {
        const locks = client()
        let last: number | undefined
        while (Date.now() < stopAt) {
          let held
          try {
            held = await locks.lock('nemesis-lock', { ttlSeconds: 4, timeoutMs: 8000 })
          } catch {
            continue
          }
          const from = Date.now()
          let fencedWrite = false
          try {
            fencedWrite = (await fenced(locks, held.fencingToken)).succeeded
          } catch {
            // Unknown outcome: not counted.
          }
          await pause(50 + random() * 200)
          // A hold ends when unlock starts, or when the lease was reported lost, whichever came first.
          const to = held.lease.lost === undefined ? Date.now() : from
          holds.push({ locker: id, token: held.fencingToken, from, to, fencedWrite })
          await held.unlock().catch(() => held.lease.close())
          if (last !== undefined) {
            // This locker, after newer holders wrote, tries again with its old token: a paused holder's late write.
            const late = await fenced(locks, last).catch(() => undefined)
            if (late !== undefined) stale.push({ token: last, accepted: late.succeeded })
          }
          last = held.fencingToken
        }
      }

      const nemesis = async (): Promise<string[]> => {
        const done: string[] = []
        while (Date.now() < stopAt - 2000) {
          await pause(1500 + random() * 1000)
          const statuses = await observer.statuses(500)
          const leader = statuses.find((s) => s.reachable && s.role === 'leader')?.id ?? undefined
          if (random() < 0.5 && leader !== undefined && leader !== null) {
            const child = nodes.get(leader)!.child
            child.kill('SIGSTOP')
            await pause(800 + random() * 800)
            child.kill('SIGCONT')
            done.push(`paused ${leader}`)
          } else {
            const victim = 1 + Math.floor(random() * 3)
            const child = nodes.get(victim)!.child
            child.kill('SIGKILL')
            await exited(child)
            await pause(300 + random() * 700)
            nodes.set(victim, startNode(config, victim))
            done.push(`killed ${victim}`)
          }
        }
        return done
      }

      const [actions] = await Promise.all([nemesis(), writer(), writer(), locker(1), locker(2), locker(3)])
      expect(actions.length).toBeGreaterThan(3)

      // Quiet: wait until every watcher has seen up to the store's revision.
      const final = (await txn(observer, { compare: [], success: [putOp('w/end', 'end')], failure: [] })).revision
      acknowledged.set('end', final)
      issued.add('end')
      for (const watcher of watched) await waitFor('the watcher to reach the last write', async () => (watcher.events.at(-1)?.modRevision === final ? true : undefined), 30_000)

      for (const { events } of watched) {
        // Ordered and unique: revisions never go back; one event per key and revision.
        const order = events.map((event) => `${event.modRevision}/${event.key}`)
        expect(new Set(order).size).toBe(order.length)
        for (let i = 1; i < events.length; i++) expect((events[i] as WatchEvent).modRevision).toBeGreaterThanOrEqual((events[i - 1] as WatchEvent).modRevision)
        // Nothing that was not written; every acknowledged write, at its revision.
        const seen = new Map(events.map((event) => [event.value.toString(), event.modRevision]))
        for (const value of seen.keys()) expect(issued.has(value), `an event of ${value}, never written`).toBe(true)
        for (const [value, revision] of acknowledged) expect(seen.get(value), `the acknowledged write ${value} at revision ${revision}`).toBe(revision)
      }
      // Every watcher saw the same history.
      expect(watched[0]?.events.map((e) => `${e.modRevision}/${e.key}/${e.value}`)).toEqual(watched[1]?.events.map((e) => `${e.modRevision}/${e.key}/${e.value}`))

      // The leased key: no delete while the lease lived.
      expect(leasedEvents.filter((event) => event.type === 'delete' && !(event as WatchEvent & { lostBefore: boolean }).lostBefore)).toEqual([])
      if (lease.lost === undefined) expect((await lease.timeToLive()).keys.map(String)).toEqual(['leased'])

      // Locks: holds in token order never overlap, tokens grow, stale fenced writes are refused.
      const byToken = [...holds].sort((a, c) => a.token - c.token)
      expect(byToken.length).toBeGreaterThan(3)
      for (let i = 1; i < byToken.length; i++) {
        const before = byToken[i - 1] as (typeof holds)[number]
        const after = byToken[i] as (typeof holds)[number]
        expect(after.from, `holder ${after.locker} (token ${after.token}) started before holder ${before.locker} (token ${before.token}) ended`).toBeGreaterThanOrEqual(before.to)
      }
      expect(holds.filter((hold) => hold.fencedWrite).length).toBeGreaterThan(0)
      expect(stale.filter((attempt) => attempt.accepted)).toEqual([])
      lease.close()
      leaseWatch.close()
      for (const watcher of watched) watcher.stream.close()
      await Promise.all([leaseWatching, ...watched.map((watcher) => watcher.done)])
    } finally {
      for (const made of clients) made.close()
      observer.close()
      for (const node of nodes.values()) node.child.kill('SIGCONT')
      for (const node of nodes.values()) node.child.kill('SIGTERM')
      await Promise.all([...nodes.values()].map((node) => exited(node.child)))
    }
  }, 180_000)
})
