// Real RaftNodes with real timers and RaftLogs in temp dirs over MemoryNetwork: proves the
// driver (persist, flush, send, apply) and its timers. Timeouts are generous for shared CI.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { join } from 'node:path'
import { readFileSync, writeFileSync } from 'node:fs'
import { RaftLog, RaftNode, type LogEntry, type RaftNodeOptions } from '../../../src/index.js'
import { MemoryNetwork } from '../../../src/testing/index.js'
import { silentLogger } from '../../helpers/entries.js'
import { tempDir } from '../../helpers/temp-dir.js'
import { MemoryCluster } from '../../helpers/memory-cluster.js'
import { waitFor as waitUntil } from '../../helpers/raft-nodes.js'

/** A state machine that records what it applied and answers with a running count. */
class Recorder {
  readonly applied: string[] = []
  apply(entry: LogEntry): unknown {
    this.applied.push(Buffer.from(entry.data).toString())
    return { count: this.applied.length, index: entry.index }
  }
}

type TestCluster = MemoryCluster<Recorder>

const timing = { electionTimeout: [60, 120] as [number, number], heartbeatInterval: 15 }

const startCluster = (size: number): Promise<TestCluster> => MemoryCluster.start({ size, seed: 7, machine: () => new Recorder(), node: timing })
const startNode = (cluster: TestCluster, id: number, extra: Partial<RaftNodeOptions> = {}): Promise<RaftNode> => cluster.startNode(id, extra)
const leaderOf = (cluster: TestCluster, except?: number): RaftNode | undefined => cluster.leader(except)

function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  return waitUntil(what, probe, timeoutMs, 10)
}

/** Proposes through whoever leads (not `except`), following ERR_NOT_LEADER, until it is applied. */
const proposeOnCluster = (cluster: TestCluster, text: string, except?: number): Promise<unknown> => cluster.propose(text, { except })

describe('RaftNode over MemoryNetwork with real logs', () => {
  it('elects a leader, applies proposals everywhere, and answers followers with ERR_NOT_LEADER', async () => {
    const cluster = await startCluster(3)
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    const results = await Promise.all(['a', 'b', 'c'].map((text) => leader.propose(Buffer.from(text))))
    expect(results.map((r) => (r as { count: number }).count)).toEqual([1, 2, 3])
    await waitFor('every node applied', () => [...cluster.machines.values()].every((m) => m.applied.length === 3))
    for (const machine of cluster.machines.values()) expect(machine.applied).toEqual(['a', 'b', 'c'])
    const follower = [...cluster.nodes.values()].find((node) => node !== leader)!
    await expect(follower.propose(Buffer.from('x'))).rejects.toMatchObject({ code: 'ERR_NOT_LEADER', leaderId: leader.id })
    const status = leader.status()
    expect(status).toMatchObject({ id: leader.id, role: 'leader', leaderId: leader.id })
    expect(status.commitIndex).toBe(status.lastIndex)
    expect(status.lastApplied).toBe(status.commitIndex)
  })

  it('fails over when the leader stops, and the restarted node catches up with identical logs', async () => {
    const cluster = await startCluster(3)
    await proposeOnCluster(cluster, 'one')
    const old = leaderOf(cluster)!
    const oldId = old.id
    const roles: string[] = []
    for (const node of cluster.nodes.values()) if (node !== old) node.on('role', (change: { role: string }) => roles.push(change.role))
    await old.stop()
    cluster.nodes.delete(oldId)
    await proposeOnCluster(cluster, 'two', oldId)
    expect(roles).toContain('leader')
    await startNode(cluster, oldId)
    await proposeOnCluster(cluster, 'three')
    await waitFor('the restarted node applied everything', () => cluster.machines.get(oldId)!.applied.includes('three'))
    // It re-applied the committed entries it had before its restart, then the new ones.
    expect(cluster.machines.get(oldId)!.applied).toEqual(['one', 'two', 'three'])
    const statuses = [...cluster.nodes.values()].map((node) => node.status())
    await waitFor('equal commit', () => new Set([...cluster.nodes.values()].map((n) => n.status().commitIndex)).size === 1)
    // The leader last: a leader stopped first hands over, and its successor's no-op might reach
    // only some of the nodes still running.
    const byRole = [...cluster.nodes.values()].sort((a, b) => Number(a.status().role === 'leader') - Number(b.status().role === 'leader'))
    for (const node of byRole) await node.stop()
    const logs = [...cluster.dirs.values()].map((dir) => {
      const log = RaftLog.open(dir, { logger: silentLogger })
      const entries = log.slice(1).map((e) => `${e.index}:${e.term}:${e.type}:${Buffer.from(e.data).toString()}`)
      log.close()
      return entries
    })
    expect(logs[1]).toEqual(logs[0])
    expect(logs[2]).toEqual(logs[0])
    expect(statuses.length).toBe(3)
    cluster.nodes.clear()
  })

  it('restarting every node keeps term and entries, and the log is replayed into new state machines', async () => {
    const cluster = await startCluster(3)
    for (const text of ['x', 'y']) await proposeOnCluster(cluster, text)
    const termBefore = Math.max(...[...cluster.nodes.values()].map((n) => n.status().term))
    for (const node of cluster.nodes.values()) await node.stop()
    for (const id of cluster.dirs.keys()) await startNode(cluster, id)
    await proposeOnCluster(cluster, 'z')
    await waitFor('replayed', () => [...cluster.machines.values()].every((m) => m.applied.join() === 'x,y,z'))
    expect(Math.max(...[...cluster.nodes.values()].map((n) => n.status().term))).toBeGreaterThanOrEqual(termBefore)
  })

  it('agrees over an unreliable network that drops and reorders', async () => {
    const cluster = await startCluster(3)
    cluster.network.setUnreliable({ dropRate: 0.1, minDelayMs: 0, maxDelayMs: 8, reorder: true })
    for (let i = 0; i < 10; i++) await proposeOnCluster(cluster, `u${i}`)
    cluster.network.setReliable()
    await waitFor('all applied', () => [...cluster.machines.values()].every((m) => m.applied.length >= 10))
    const reference = cluster.machines.get(1)!.applied
    for (const machine of cluster.machines.values()) expect(machine.applied).toEqual(reference)
  })

  it('a partitioned leader steps down and the majority goes on', async () => {
    const cluster = await startCluster(3)
    await proposeOnCluster(cluster, 'before')
    const old = leaderOf(cluster)!
    const others = [...cluster.dirs.keys()].filter((id) => id !== old.id)
    cluster.network.partition([old.id], others)
    await proposeOnCluster(cluster, 'during', old.id)
    await waitFor('old leader stepped down', () => old.status().role !== 'leader')
    cluster.network.heal()
    await waitFor('old leader caught up', () => cluster.machines.get(old.id)!.applied.includes('during'))
  })
})

describe('RaftNode.stats() and the flush event (what metrics read)', () => {
  it('counts proposals, reads, elections, flushes and what the log took, and shows the leader its followers', async () => {
    const cluster = await startCluster(3)
    await proposeOnCluster(cluster, 'warm-up')
    const leader = leaderOf(cluster)!
    const flushes: number[] = []
    leader.on('flush', ({ durationMs }: { durationMs: number }) => flushes.push(durationMs))
    const before = leader.stats()
    for (let i = 0; i < 5; i++) await leader.propose(Buffer.from(`counted-${i}`))
    await leader.read()
    const after = leader.stats()
    expect(after.proposals - before.proposals).toBe(5)
    expect(after.reads - before.reads).toBe(1)
    expect(after.log.entriesAppended - before.log.entriesAppended).toBe(5)
    expect(after.log.bytesAppended - before.log.bytesAppended).toBe(5 * 'counted-0'.length)
    expect(after.log.flushes).toBeGreaterThan(before.log.flushes)
    expect(flushes.length).toBeGreaterThan(0)
    expect(after.elections).toBeGreaterThanOrEqual(1)
    expect(after.followers.map((f) => f.id).sort()).toEqual([...cluster.nodes.keys()].filter((id) => id !== leader.id).sort())
    for (const follower of after.followers) expect(follower.match).toBeLessThanOrEqual(leader.status().lastIndex)
    const follower = [...cluster.nodes.values()].find((node) => node !== leader)!
    expect(follower.stats().followers).toEqual([])
  })
})

describe('RaftNode writes while it replicates (Raft dissertation §10.2.1)', () => {
  /** Flushes held back, by log directory: each starts only once its gate opens. */
  const gates = new Map<string, Promise<void>>()

  /** Holds back every flush of the log in `dir` until the returned function is called. */
  function holdFlushes(dir: string): () => void {
    let release: () => void = () => {}
    gates.set(dir, new Promise<void>((resolve) => (release = resolve)))
    if (!vi.isMockFunction(RaftLog.prototype.flush)) {
      const original = RaftLog.prototype.flush
      vi.spyOn(RaftLog.prototype, 'flush').mockImplementation(function (this: RaftLog) {
        const gate = gates.get(this.dir)
        return gate === undefined ? original.call(this) : gate.then(() => original.call(this))
      })
    }
    return release
  }

  afterEach(() => {
    vi.restoreAllMocks()
    gates.clear()
  })

  it('a leader whose own flush is held back commits through two followers, and its heartbeats go on', async () => {
    const cluster = await startCluster(3)
    await proposeOnCluster(cluster, 'warm-up')
    const leader = leaderOf(cluster)!
    const { term } = leader.status()
    const release = holdFlushes(cluster.dirs.get(leader.id)!)
    const proposal = leader.propose(Buffer.from('slow-leader-disk'))
    const followers = [...cluster.nodes.values()].filter((node) => node !== leader)
    // Committed and applied by the followers while the leader's disk has not finished.
    await waitFor('the followers applied it', () => followers.every((node) => cluster.machines.get(node.id)!.applied.includes('slow-leader-disk')))
    // Held for several election timeouts: the leader keeps leading.
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(leader.status()).toMatchObject({ role: 'leader', term })
    release()
    await expect(proposal).resolves.toBeDefined()
  })

  it('applies a committed entry it holds durably without waiting for its flush of the next one', async () => {
    const cluster = await startCluster(3)
    await proposeOnCluster(cluster, 'warm-up')
    const leader = leaderOf(cluster)!
    const followers = [...cluster.nodes.values()].filter((node) => node !== leader)
    const releaseFollowers = followers.map((node) => holdFlushes(cluster.dirs.get(node.id)!))
    const first = leader.propose(Buffer.from('durable-here'))
    // The leader's own flush of it runs; the followers hold it unflushed, so none acknowledges.
    await waitFor('the followers hold it', () => followers.every((node) => node.status().lastIndex === leader.status().lastIndex))
    await new Promise((resolve) => setTimeout(resolve, 50))
    const releaseLeader = holdFlushes(cluster.dirs.get(leader.id)!)
    const second = leader.propose(Buffer.from('still-flushing'))
    // The followers' acknowledgements commit both; the leader holds only the first durably.
    for (const release of releaseFollowers) release()
    try {
      await waitFor('the leader applied the first', () => cluster.machines.get(leader.id)!.applied.includes('durable-here'), 3000)
      await expect(first).resolves.toBeDefined()
      expect(cluster.machines.get(leader.id)!.applied).not.toContain('still-flushing')
      // The followers learn the commit with the next AppendEntries or the commit notice, and apply both.
      await waitFor('the followers applied both', () => followers.every((node) => cluster.machines.get(node.id)!.applied.includes('still-flushing')), 3000)
    } finally {
      releaseLeader()
    }
    await expect(second).resolves.toBeDefined()
    expect(cluster.machines.get(leader.id)!.applied).toContain('still-flushing')
  })

  it('never counts its own unflushed entries: with a follower down, nothing commits until its flush is done', async () => {
    const cluster = await startCluster(3)
    await proposeOnCluster(cluster, 'warm-up')
    const leader = leaderOf(cluster)!
    const [up, down] = [...cluster.nodes.values()].filter((node) => node !== leader) as [RaftNode, RaftNode]
    await down.stop()
    cluster.nodes.delete(down.id)
    const commitBefore = leader.status().commitIndex
    const release = holdFlushes(cluster.dirs.get(leader.id)!)
    const proposal = leader.propose(Buffer.from('needs-the-leader-disk'))
    await waitFor('the follower holds it', () => up.status().lastIndex > commitBefore)
    await new Promise((resolve) => setTimeout(resolve, 200))
    // One follower of three holds it: a majority needs the leader's own disk too.
    expect(leader.status().commitIndex).toBe(commitBefore)
    release()
    await expect(proposal).resolves.toBeDefined()
    expect(leader.status().commitIndex).toBeGreaterThan(commitBefore)
  })
})

describe('RaftNode applies beside the Raft loop', () => {
  it('a state machine that takes 100 ms per entry does not depose a healthy leader', async () => {
    const cluster = await startCluster(3)
    await proposeOnCluster(cluster, 'warm-up')
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    const { term } = leader.status()
    const changes: string[] = []
    for (const node of cluster.nodes.values()) node.on('role', ({ role, term: t }: { role: string; term: number }) => changes.push(`${node.id}:${role}@${t}`))
    // Every node's state machine is slow from now on: 10 entries take a second, ten election timeouts.
    for (const machine of cluster.machines.values()) {
      const apply = machine.apply.bind(machine)
      machine.apply = (entry: LogEntry) => new Promise((resolve) => setTimeout(() => resolve(apply(entry)), 100)) as never
    }
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => leader.propose(Buffer.from(`slow-${i}`))))
    expect(results).toHaveLength(10)
    await waitFor('every node applied', () => [...cluster.machines.values()].every((m) => m.applied.length === 11), 20_000)
    expect(changes).toEqual([])
    expect(leader.status()).toMatchObject({ role: 'leader', term })
  })

  it('replays a long log at start in slices: timers keep running meanwhile', async () => {
    const dir = tempDir()
    const network = new MemoryNetwork()
    const first = await RaftNode.start({ id: 1, peers: [1], dir, stateMachine: new Recorder(), transport: network.endpoint(1), logger: silentLogger, ...timing })
    await waitFor('single node leads', () => first.status().role === 'leader')
    const count = 50_000
    await Promise.all(Array.from({ length: count }, (_, i) => first.propose(Buffer.from(`e${i}`))))
    await first.stop()
    let ticks = 0
    const ticker = setInterval(() => ticks++, 1)
    const machine = new Recorder()
    const again = await RaftNode.start({ id: 1, peers: [1], dir, stateMachine: machine, transport: network.endpoint(1), logger: silentLogger, ...timing })
    const ticksAtStart = ticks
    try {
      await waitFor('replayed', () => machine.applied.length >= count, 30_000)
      // The replay handed the event loop back many times; a replay in one go lets no timer run.
      expect(ticks - ticksAtStart).toBeGreaterThan(5)
      expect(machine.applied[count - 1]).toBe(`e${count - 1}`)
    } finally {
      clearInterval(ticker)
      await again.stop()
    }
  })

  it('a corrupt committed entry refuses the start, naming the segment, byte and index', async () => {
    const dir = tempDir()
    const network = new MemoryNetwork()
    const options = { id: 1, peers: [1], dir, transport: network.endpoint(1), logger: silentLogger, segmentSize: 64 * 1024, ...timing }
    const first = await RaftNode.start({ ...options, stateMachine: new Recorder() })
    await waitFor('single node leads', () => first.status().role === 'leader')
    await Promise.all(Array.from({ length: 300 }, (_, i) => first.propose(new Uint8Array(1000).fill(i & 0xff))))
    await first.stop()
    // Flip one payload byte of an entry in the first (sealed) segment: the payload of the sixth
    // proposal (1000 bytes of 0x05).
    const log = RaftLog.open(dir, { logger: silentLogger })
    const [segment] = log.describeSegments()
    expect(segment!.sealed).toBe(true)
    log.close()
    const path = join(dir, segment!.file)
    const bytes = readFileSync(path)
    const payload = bytes.indexOf(Buffer.alloc(1000, 0x05))
    expect(payload).toBeGreaterThan(64)
    bytes[payload + 8] = bytes[payload + 8]! ^ 0x01
    writeFileSync(path, bytes)
    // Starting reads every frame header of the log after the committed configuration it recorded
    // (for later configuration entries): a damaged frame is found then, before the node takes
    // part, not when it is applied. Index 9: the sixth proposal, after the first configuration,
    // the no-op and the cluster's random token.
    await expect(RaftNode.start({ ...options, stateMachine: new Recorder() })).rejects.toMatchObject({
      code: 'ERR_CORRUPT',
      message: expect.stringMatching(new RegExp(`Segment ${segment!.file} is corrupt at byte \\d+ \\(index 9\\)`)),
    })
  })
})

describe('RaftNode.start and propose refuse bad input', () => {
  const network = new MemoryNetwork()
  const base = (): RaftNodeOptions => ({ id: 1, peers: [1, 2, 3], dir: tempDir(), stateMachine: new Recorder(), transport: network.endpoint(1) })
  const cases: [string, Partial<RaftNodeOptions>, RegExp][] = [
    ['duplicate peers', { peers: [1, 2, 2] }, /peers lists node 2 twice/],
    ['own id missing', { peers: [2, 3] }, /peers must include this node's own id 1/],
    ['a bad id', { id: 0 }, /id must be a whole number from 1/],
    ['timeouts out of order', { electionTimeout: [300, 100] }, /electionTimeout must be \[min, max\]/],
    ['a timeout range with no randomness', { electionTimeout: [300, 300] }, /electionTimeout must be \[min, max\] milliseconds with 1 <= min < max \(a random timeout in that range ends split votes\)/],
    ['a heartbeat not below the election timeout', { heartbeatInterval: 150, electionTimeout: [150, 300] }, /heartbeatInterval must be .* below/],
    ['no state machine', { stateMachine: {} as never }, /stateMachine must have an apply/],
    ['a state machine that takes snapshots it cannot restore', { stateMachine: { apply: () => undefined, snapshot: () => new Uint8Array() } as never }, /stateMachine has snapshot\(\) but no restore\(\): give it both .* or neither/],
    ['an option it does not know (a typo: the default would be used silently)', { electionTimeot: [10, 20] } as never, /RaftNode.start: unknown option "electionTimeot"; the options are id, peers, /],
  ]
  it.each(cases)('rejects %s with ERR_BAD_ARGUMENT', async (_, change, message) => {
    await expect(RaftNode.start({ ...base(), ...change })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(message) })
  })

  it('propose() of something that is not a Uint8Array is rejected', async () => {
    const node = await RaftNode.start({ ...base(), peers: [1], logger: silentLogger })
    await expect(node.propose('text' as never)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' })
    await waitFor('single node leads', () => node.status().role === 'leader')
    await expect(node.propose(Buffer.from('ok'))).resolves.toMatchObject({ count: 1 })
    await node.stop()
    await expect(node.propose(Buffer.from('late'))).rejects.toMatchObject({ code: 'ERR_STOPPED' })
  })
})
