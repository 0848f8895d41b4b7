// One real RaftNode against a scripted peer: the test plays the other nodes message by message,
// to reach the driver's corner cases (a failed disk, an index reused in a later term) exactly.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { existsSync, statSync } from 'node:fs'
import { EntryType, RaftLog, RaftNode, type LogEntry, type RaftMessage, type RaftNodeOptions, type Transport } from '../../../src/index.js'
import { silentLogger } from '../../helpers/entries.js'
import { tempDir } from '../../helpers/temp-dir.js'

/**
 * Set to make the next flush's fdatasync on the thread pool, the next msync (of a truncation, a
 * seal), or the next mapping of a new file fail as a dying or full disk would.
 */
const disk = { failNextSync: false, failNextSyncRange: false, failNextMap: false, full: false }

vi.mock('../../../src/storage/data-file.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../../src/storage/data-file.js')>()
  class FailingDataFile extends actual.DataFile {
    override syncAsync(): Promise<void> {
      if (!disk.failNextSync) return super.syncAsync()
      disk.failNextSync = false
      return Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
    }
  }
  return { ...actual, DataFile: FailingDataFile }
})

vi.mock('../../../src/storage/native.js', async (importOriginal) => {
  const native = await importOriginal<typeof import('../../../src/storage/native.js')>()
  return {
    ...native,
    syncRange(buffer: ArrayBuffer, offset: number, length: number): void {
      if (!disk.failNextSyncRange) return native.syncRange(buffer, offset, length)
      disk.failNextSyncRange = false
      throw Object.assign(new Error('EIO: i/o error, msync'), { code: 'EIO', syscall: 'msync' })
    },
    mapFile(path: string, sizeBytes: number): ArrayBuffer {
      // While the disk is full, a file that has its blocks already maps as before; a new one cannot.
      const needsRoom = disk.full && sizeBytes > 0 && !(existsSync(path) && statSync(path).size >= sizeBytes)
      if ((!disk.failNextMap && !needsRoom) || sizeBytes === 0) return native.mapFile(path, sizeBytes)
      disk.failNextMap = false
      throw Object.assign(new Error(`ENOSPC: no space left on device, fallocate '${path}'`), { code: 'ENOSPC', syscall: 'fallocate', path })
    },
    allocateFileAsync(path: string, sizeBytes: number, written?: boolean): Promise<void> {
      if (disk.full) return Promise.reject(Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC', path }))
      return native.allocateFileAsync(path, sizeBytes, written)
    },
  }
})

/** A transport whose far side is the test: it sees every message sent and delivers replies. */
class ScriptedPeers implements Transport {
  readonly sent: RaftMessage[] = []
  /** Called for every message the node sends, to answer it (or not). */
  reply: (message: RaftMessage) => RaftMessage | undefined = () => undefined
  private handler: ((message: RaftMessage) => void) | undefined

  send(message: RaftMessage): void {
    this.sent.push(message)
    const answer = this.reply(message)
    if (answer !== undefined) setImmediate(() => this.deliver(answer))
  }

  onMessage(handler: (message: RaftMessage) => void): void {
    this.handler = handler
  }

  deliver(message: RaftMessage): void {
    this.handler?.(message)
  }

  async close(): Promise<void> {}
}

const nodes: RaftNode[] = []
afterEach(async () => {
  disk.full = false
  vi.restoreAllMocks()
  for (const node of nodes.splice(0)) await node.stop().catch(() => {})
})

async function start(id: number, peers: number[], transport: Transport, electionTimeout: [number, number], extra: Partial<RaftNodeOptions> = {}): Promise<RaftNode> {
  const node = await RaftNode.start({
    ...extra,
    id,
    peers,
    dir: tempDir('raftlog-driver-'),
    stateMachine: { apply: (entry: LogEntry) => Buffer.from(entry.data).toString() },
    transport,
    logger: silentLogger,
    electionTimeout,
    heartbeatInterval: Math.floor(electionTimeout[0] / 4),
  })
  nodes.push(node)
  return node
}

function entries(from: number, to: number, term: number): LogEntry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({ index: from + i, term, type: EntryType.Normal, data: new Uint8Array([from + i]) }))
}

describe('RaftNode after a storage failure', () => {
  it('answers nothing more, so it never acknowledges entries that did not reach the disk', async () => {
    const peers = new ScriptedPeers()
    // A long election timeout: node 2 stays a follower of the scripted node 1.
    const node = await start(2, [1, 2], peers, [5000, 6000])
    const failed = new Promise<Error>((resolve) => node.on('failed', resolve))
    const append: RaftMessage = { type: 'AppendEntries', from: 1, to: 2, term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, seq: 1, entries: entries(1, 3, 1) }
    disk.failNextSync = true
    peers.deliver(append)
    expect((await failed).message).toMatch(/EIO/)
    // The leader sends the same entries again: they match what the follower appended, so no new
    // flush would be needed, yet they are not durable. The node must stay silent.
    const sentBefore = peers.sent.length
    peers.deliver(append)
    peers.deliver({ ...append, entries: [], prevLogIndex: 3, prevLogTerm: 1 })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(peers.sent.slice(sentBefore)).toEqual([])
    expect(peers.sent.some((message) => message.type === 'AppendEntriesResponse' && message.success)).toBe(false)
  })
})

describe('RaftNode fails on every storage error, wherever it is raised', () => {
  it('a truncation whose msync fails while a message is stepped stops the node: it answers and votes no more', async () => {
    const peers = new ScriptedPeers()
    const node = await start(2, [1, 2, 3], peers, [5000, 6000])
    const failed = new Promise<Error>((resolve) => node.on('failed', resolve))
    peers.deliver({ type: 'AppendEntries', from: 1, to: 2, term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 2, seq: 1, entries: entries(1, 3, 1) })
    await vi.waitFor(() => expect(peers.sent.some((m) => m.type === 'AppendEntriesResponse' && m.success && m.matchIndex === 3)).toBe(true))
    // A leader of term 2 overwrites index 3 (not committed): the cut's msync fails.
    const cut = vi.spyOn(RaftLog.prototype, 'truncateAfter')
    disk.failNextSyncRange = true
    peers.deliver({ type: 'AppendEntries', from: 3, to: 2, term: 2, prevLogIndex: 2, prevLogTerm: 1, leaderCommit: 2, seq: 1, entries: entries(3, 3, 2) })
    expect(cut).toHaveBeenCalledWith(2)
    expect(cut.mock.results[0]?.type).toBe('throw')
    expect((await failed).message).toMatch(/EIO/)
    expect(node.failed?.message).toMatch(/EIO/)
    const sentBefore = peers.sent.length
    // A candidate lacking the committed entries 2 and 3, long after any lease: no vote, no answer.
    peers.deliver({ type: 'RequestVote', from: 3, to: 2, term: 9, preVote: false, lastLogIndex: 1, lastLogTerm: 1, transfer: false })
    peers.deliver({ type: 'AppendEntries', from: 3, to: 2, term: 2, prevLogIndex: 3, prevLogTerm: 2, leaderCommit: 3, seq: 2, entries: [] })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(peers.sent.slice(sentBefore)).toEqual([])
    await expect(node.propose(Buffer.from('late'))).rejects.toThrow(/EIO/)
  })

  it('a storage error that is not a full disk (a failed fdatasync) still stops the node', async () => {
    const peers = new ScriptedPeers()
    const node = await start(1, [1], peers, [60, 120], { segmentSize: 64 * 1024 })
    await vi.waitFor(() => expect(node.status().role).toBe('leader'), { timeout: 10_000 })
    const failed = new Promise<Error>((resolve) => node.on('failed', resolve))
    disk.failNextSync = true
    await expect(node.propose(Buffer.from('lost'))).rejects.toThrow(/EIO/)
    expect((await failed).message).toMatch(/EIO/)
  })
})

describe('RaftNode on a full disk', () => {
  const segmentSize = 64 * 1024

  it('a leader whose log cannot grow refuses proposals with ERR_DISK_FULL (it never throws, never fails) and takes them again by itself once there is room', async () => {
    const peers = new ScriptedPeers()
    const node = await start(1, [1], peers, [60, 120], { segmentSize })
    await vi.waitFor(() => expect(node.status().role).toBe('leader'), { timeout: 10_000 })
    expect(await node.propose(Buffer.from('before'))).toBe('before')
    const events: string[] = []
    node.on('paused', ({ reason }: { reason: string }) => events.push(`paused: ${reason}`))
    node.on('resumed', () => events.push('resumed'))
    node.on('failed', (error: Error) => events.push(`failed: ${error.message}`))
    disk.full = true
    // Larger than what is left of the first segment: the log must make a new one, and cannot.
    let proposal: Promise<unknown> | undefined
    expect(() => {
      proposal = node.propose(new Uint8Array(100 * 1024))
    }).not.toThrow()
    await expect(proposal).rejects.toMatchObject({ code: 'ERR_DISK_FULL', message: expect.stringMatching(/disk is full.*ENOSPC/) })
    // Paused, not failed: small proposals are refused too (nothing is appended while paused).
    await expect(node.propose(Buffer.from('small'))).rejects.toMatchObject({ code: 'ERR_DISK_FULL' })
    await vi.waitFor(() => expect(node.status().diskFull).toBe(true))
    expect(node.status().diskFullReason).toMatch(/^since \S+: .*ENOSPC/)
    expect(node.failed).toBeUndefined()
    const lastIndex = node.status().lastIndex
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(node.status().lastIndex).toBe(lastIndex)
    disk.full = false
    await vi.waitFor(() => expect(node.status().diskFull).toBe(false), { timeout: 10_000 })
    expect(await node.propose(Buffer.from('after'))).toBe('after')
    expect(events).toEqual([expect.stringMatching(/^paused: .*ENOSPC/), 'resumed'])
    // In order, each once, and nothing of what was refused.
    const log = node.status()
    expect(log.lastIndex).toBe(lastIndex + 1)
  })

  it('a follower whose log cannot grow answers no AppendEntries it could not persist, answers heartbeats, and appends and answers the held-back entries by itself once there is room', async () => {
    const peers = new ScriptedPeers()
    const node = await start(2, [1, 2], peers, [5000, 6000], { segmentSize })
    const events: string[] = []
    node.on('paused', () => events.push('paused'))
    node.on('resumed', () => events.push('resumed'))
    node.on('failed', (error: Error) => events.push(`failed: ${error.message}`))
    const small = (index: number): LogEntry => ({ index, term: 1, type: EntryType.Normal, data: new Uint8Array(1000).fill(index) })
    // Entry 1 is the first configuration; 2..11 fill a sixth of the segment (no spare made yet).
    peers.deliver({ type: 'AppendEntries', from: 1, to: 2, term: 1, prevLogIndex: 1, prevLogTerm: 1, leaderCommit: 1, seq: 1, entries: Array.from({ length: 10 }, (_, i) => small(i + 2)) })
    await vi.waitFor(() => expect(peers.sent.some((m) => m.type === 'AppendEntriesResponse' && m.success && m.matchIndex === 11)).toBe(true))
    disk.full = true
    const big: LogEntry = { index: 12, term: 1, type: EntryType.Normal, data: new Uint8Array(60 * 1024).fill(12) }
    const held: RaftMessage = { type: 'AppendEntries', from: 1, to: 2, term: 1, prevLogIndex: 11, prevLogTerm: 1, leaderCommit: 11, seq: 2, entries: [big, small(13)] }
    peers.deliver(held)
    await vi.waitFor(() => expect(node.status().diskFull).toBe(true))
    // A heartbeat at its match index is answered: its leader sees a slow follower, not a dead one.
    peers.deliver({ type: 'AppendEntries', from: 1, to: 2, term: 1, prevLogIndex: 11, prevLogTerm: 1, leaderCommit: 11, seq: 3, entries: [] })
    await vi.waitFor(() => expect(peers.sent.some((m) => m.type === 'AppendEntriesResponse' && m.seq === 3 && m.success && m.matchIndex === 11)).toBe(true))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(peers.sent.some((m) => m.type === 'AppendEntriesResponse' && m.success && m.matchIndex > 11)).toBe(false)
    expect(node.status().lastIndex).toBe(11)
    expect(node.failed).toBeUndefined()
    disk.full = false
    // No new message from the leader: the node finds the room itself and answers the held one.
    await vi.waitFor(() => expect(peers.sent.some((m) => m.type === 'AppendEntriesResponse' && m.seq === 2 && m.success && m.matchIndex === 13)).toBe(true), { timeout: 10_000 })
    expect(node.status().diskFull).toBe(false)
    expect(node.status().lastIndex).toBe(13)
    expect(events).toEqual(['paused', 'resumed'])
  })
})

describe('RaftNode proposals when leadership is lost', () => {
  it('rejects the uncommitted ones at once with ERR_LEADERSHIP_LOST, and serves new ones at a reused index', async () => {
    const peers = new ScriptedPeers()
    let mode: 'vote' | 'silent' | 'ack' = 'vote'
    peers.reply = (message) => {
      if (message.type === 'RequestVote' && mode === 'vote') {
        return { type: 'RequestVoteResponse', from: message.to, to: message.from, term: message.term, preVote: message.preVote, voteGranted: true }
      }
      if (message.type === 'AppendEntries' && mode === 'ack') {
        const matchIndex = message.prevLogIndex + message.entries.length
        return { type: 'AppendEntriesResponse', from: message.to, to: message.from, term: message.term, success: true, matchIndex, conflictIndex: 0, conflictTerm: 0, seq: message.seq }
      }
      return undefined
    }
    const node = await start(1, [1, 2, 3], peers, [60, 80])
    await vi.waitFor(() => expect(node.status().role).toBe('leader'), { timeout: 10_000 })
    const firstTerm = node.status().term
    // Three proposals at indexes 4, 5 and 6 (after the first configuration, the term's no-op and
    // the cluster's random token) that no peer receives.
    mode = 'silent'
    const outcome = new Map<string, string>()
    const track = (name: string, proposal: Promise<unknown>): Promise<void> =>
      proposal.then(
        (result) => void outcome.set(name, `applied ${String(result)}`),
        (error: { code: string }) => void outcome.set(name, error.code),
      )
    const settled = [track('p2', node.propose(Buffer.from('p2'))), track('p3', node.propose(Buffer.from('p3'))), track('p4', node.propose(Buffer.from('p4')))]
    await vi.waitFor(() => expect(node.status().lastIndex).toBe(6))
    // Node 2 leads a later term without them: its first entry conflicts, the log is cut to 2.
    peers.deliver({ type: 'AppendEntries', from: 2, to: 1, term: firstTerm + 1, prevLogIndex: 1, prevLogTerm: 1, leaderCommit: 1, seq: 1, entries: [{ index: 2, term: firstTerm + 1, type: EntryType.NoOp, data: new Uint8Array(0) }] })
    await vi.waitFor(() => expect(node.status().lastIndex).toBe(2))
    // Settled at once, not when the node stops: whether they survive elsewhere is unknown.
    await vi.waitFor(() => expect(outcome.size).toBe(3))
    expect(Object.fromEntries(outcome)).toEqual({ p2: 'ERR_LEADERSHIP_LOST', p3: 'ERR_LEADERSHIP_LOST', p4: 'ERR_LEADERSHIP_LOST' })
    // Node 1 leads again: its no-op takes index 3, and a new proposal takes index 4.
    mode = 'vote'
    await vi.waitFor(() => expect(node.status().role).toBe('leader'), { timeout: 10_000 })
    mode = 'ack'
    settled.push(track('q', node.propose(Buffer.from('q'))))
    await vi.waitFor(() => expect(outcome.get('q')).toBe('applied q'), { timeout: 10_000 })
    await node.stop()
    expect(settled).toHaveLength(4)
  })
})

describe('RaftNode answers in the order it was asked', () => {
  it("a heartbeat's answer never overtakes an append whose flush is still running", async () => {
    const peers = new ScriptedPeers()
    // A long election timeout: node 2 stays a follower of the scripted node 1.
    const node = await start(2, [1, 2], peers, [5000, 6000])
    const answers = (): Extract<RaftMessage, { type: 'AppendEntriesResponse' }>[] => peers.sent.filter((m) => m.type === 'AppendEntriesResponse')
    peers.deliver({ type: 'AppendEntries', from: 1, to: 2, term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 1, seq: 1, entries: entries(1, 2, 1) })
    await vi.waitFor(() => expect(answers().map((m) => m.seq)).toEqual([1]), { timeout: 10_000 })
    // Node 2's disk takes its time over a large entry; heartbeats keep coming meanwhile.
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const flush = RaftLog.prototype.flush
    vi.spyOn(RaftLog.prototype, 'flush').mockImplementation(function (this: RaftLog) {
      return gate.then(() => flush.call(this))
    })
    const large = { index: 3, term: 1, type: EntryType.Normal, data: new Uint8Array(1024 * 1024).fill(3) }
    peers.deliver({ type: 'AppendEntries', from: 1, to: 2, term: 1, prevLogIndex: 2, prevLogTerm: 1, leaderCommit: 2, seq: 2, entries: [large] })
    // Each in a later turn of the event loop, as a stream delivers them: a Ready of its own.
    for (const seq of [3, 4, 5]) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      peers.deliver({ type: 'AppendEntries', from: 1, to: 2, term: 1, prevLogIndex: 2, prevLogTerm: 1, leaderCommit: 2, seq, entries: [] })
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
    // An answer to a later message now would tell the leader the large append was lost (its
    // resend rule), and it would send the entry again while this copy is being written.
    const whileFlushing = answers().map((m) => m.seq)
    release()
    expect(whileFlushing).toEqual([1])
    await vi.waitFor(() => expect(answers().map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]), { timeout: 10_000 })
    expect(answers()[1]).toMatchObject({ success: true, matchIndex: 3 })
    expect(node.status().lastIndex).toBe(3)
  })
})
