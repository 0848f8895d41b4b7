// The rules of the Raft paper's Figure 2, one by one, with hand-built messages.
import { describe, expect, it } from 'vitest'
import { RaftCore, type HardState } from '../../../src/raft/core/raft-core.js'
import { MemoryLogStore } from '../../../src/testing/memory-log-store.js'
import { seededRandom } from '../../../src/raft/core/seeded-random.js'
import type { AppendEntries, AppendEntriesResponse, RaftMessage, RequestVote, RequestVoteResponse } from '../../../src/raft/core/messages.js'
import { EntryType, type LogEntry } from '../../../src/storage/log-entry.js'
import { encodeConfiguration } from '../../../src/raft/core/configuration.js'

function makeCore(id: number, terms: number[] = [], hard: Partial<HardState> = {}, peers = [1, 2, 3]): { core: RaftCore; log: MemoryLogStore } {
  const log = new MemoryLogStore()
  for (const term of terms) log.append([{ term, data: Buffer.from(`t${term}`) }])
  log.flush()
  const core = new RaftCore({
    id,
    peers,
    log,
    hardState: { currentTerm: Math.max(0, ...terms), votedFor: 0, commitIndex: 0, ...hard },
    electionTicks: [10, 10],
    heartbeatTicks: 2,
    random: seededRandom(1),
  })
  return { core, log }
}

/** Everything the core wants sent, after a Ready is handled as the driver would. */
function drain(core: RaftCore, log?: MemoryLogStore): RaftMessage[] {
  const out: RaftMessage[] = []
  while (core.hasReady()) {
    const ready = core.ready()
    if (ready.mustFlush) log?.flush()
    out.push(...ready.messages)
    core.advance(ready)
  }
  return out
}

function entry(index: number, term: number): LogEntry {
  return { index, term, type: EntryType.Normal, data: Buffer.from(`t${term}`) }
}

function vote(from: number, term: number, lastLogIndex: number, lastLogTerm: number, preVote = false): RequestVote {
  return { type: 'RequestVote', from, to: 1, term, preVote, lastLogIndex, lastLogTerm, transfer: false }
}

function append(from: number, term: number, prevLogIndex: number, prevLogTerm: number, entries: LogEntry[], leaderCommit = 0): AppendEntries {
  return { type: 'AppendEntries', from, to: 1, term, prevLogIndex, prevLogTerm, entries, leaderCommit, seq: 0 }
}

/** Ticks a fresh core through pre-vote and vote into leadership of term `term` + 1. */
function makeLeader(terms: number[], peers = [1, 2, 3]): { core: RaftCore; log: MemoryLogStore } {
  const made = makeCore(1, terms, {}, peers)
  const { core, log } = made
  for (let i = 0; i < 10; i++) core.tick()
  drain(core, log)
  const preTerm = core.currentTerm + 1
  core.step({ type: 'RequestVoteResponse', from: 2, to: 1, term: preTerm, preVote: true, voteGranted: true })
  drain(core, log)
  core.step({ type: 'RequestVoteResponse', from: 2, to: 1, term: core.currentTerm, preVote: false, voteGranted: true })
  drain(core, log)
  expect(core.role).toBe('leader')
  return made
}

describe('RaftCore: terms', () => {
  it('a message of a higher term makes any node a follower of that term, with no vote', () => {
    const { core } = makeLeader([1])
    const term = core.currentTerm
    core.step({ type: 'AppendEntriesResponse', from: 2, to: 1, term: term + 3, success: false, matchIndex: 0, conflictIndex: 0, conflictTerm: 0, seq: 0 })
    expect([core.role, core.currentTerm, core.vote]).toEqual(['follower', term + 3, 0])
    const ready = core.ready()
    expect(ready.hardState).toEqual({ currentTerm: term + 3, votedFor: 0, commitIndex: 0 })
  })

  it('a request of a lower term is refused with the current term', () => {
    const { core } = makeCore(1, [1, 5])
    core.step(append(2, 3, 0, 0, []))
    const [answer] = drain(core) as AppendEntriesResponse[]
    expect(answer).toMatchObject({ type: 'AppendEntriesResponse', success: false, term: 5 })
  })
})

describe('RaftCore: voting', () => {
  it('grants one vote per term, to a candidate whose log is at least as up to date', () => {
    const { core } = makeCore(1, [1, 2])
    core.step(vote(2, 3, 2, 2))
    const [granted] = drain(core) as RequestVoteResponse[]
    expect(granted).toMatchObject({ to: 2, term: 3, voteGranted: true })
    expect(core.vote).toBe(2)
    core.step(vote(3, 3, 5, 2))
    const [refused] = drain(core) as RequestVoteResponse[]
    expect(refused).toMatchObject({ to: 3, voteGranted: false })
    // The same candidate asking again gets the same answer.
    core.step(vote(2, 3, 2, 2))
    expect((drain(core)[0] as RequestVoteResponse).voteGranted).toBe(true)
  })

  it('refuses a candidate with an older last term, or a shorter log of the same last term', () => {
    for (const [lastIndex, lastTerm] of [[5, 1], [1, 2]] as const) {
      const { core } = makeCore(1, [1, 2])
      core.step(vote(2, 3, lastIndex, lastTerm))
      expect((drain(core)[0] as RequestVoteResponse).voteGranted, `${lastIndex}@${lastTerm}`).toBe(false)
    }
  })

  it('a pre-vote changes no term and no vote, and is refused for a stale log', () => {
    const { core } = makeCore(1, [1, 2])
    core.step(vote(2, 3, 2, 2, true))
    expect(drain(core)[0]).toMatchObject({ preVote: true, voteGranted: true, term: 3 })
    expect([core.currentTerm, core.vote]).toEqual([2, 0])
    core.step(vote(3, 3, 1, 1, true))
    expect(drain(core)[0]).toMatchObject({ preVote: true, voteGranted: false })
  })

  it('an election starts with a pre-vote, and only then a new term', () => {
    const { core } = makeCore(1, [1])
    for (let i = 0; i < 10; i++) core.tick()
    const preVotes = drain(core) as RequestVote[]
    expect(preVotes.map((m) => [m.to, m.preVote, m.term])).toEqual([
      [2, true, 2],
      [3, true, 2],
    ])
    expect(core.currentTerm).toBe(1)
    core.step({ type: 'RequestVoteResponse', from: 3, to: 1, term: 2, preVote: true, voteGranted: true })
    const votes = drain(core) as RequestVote[]
    expect(votes.map((m) => [m.preVote, m.term])).toEqual([
      [false, 2],
      [false, 2],
    ])
    expect([core.currentTerm, core.vote, core.role]).toEqual([2, 1, 'candidate'])
  })

  it('a node that hears from a live leader ignores candidates (leader lease)', () => {
    const { core } = makeCore(1, [1])
    core.step(append(2, 1, 1, 1, []))
    drain(core)
    core.step(vote(3, 5, 9, 9))
    expect(drain(core)).toEqual([])
    expect(core.currentTerm).toBe(1)
  })

  it('the leader it follows asking for a vote has stopped leading (restarted): its pre-vote and vote are granted within the lease', () => {
    // A leader restarted on its disk comes back a follower of its old term. Its followers heard
    // from it a moment ago; refusing it as a would-be candidate kept its group leaderless for an
    // election timeout more (a quiet many-group follower did not even tick its lease away).
    const { core } = makeCore(1, [1])
    core.step(append(2, 1, 1, 1, []))
    drain(core)
    core.step(vote(2, 2, 1, 1, true))
    expect(drain(core)).toEqual([{ type: 'RequestVoteResponse', from: 1, to: 2, term: 2, preVote: true, voteGranted: true }])
    expect(core.currentTerm).toBe(1)
    core.step(vote(2, 2, 1, 1))
    expect(drain(core)).toEqual([{ type: 'RequestVoteResponse', from: 1, to: 2, term: 2, preVote: false, voteGranted: true }])
    expect([core.currentTerm, core.vote]).toEqual([2, 2])
    // Anyone else is still refused within the lease of the leader it then follows.
    core.step(append(2, 2, 1, 1, []))
    drain(core)
    core.step(vote(3, 3, 9, 9, true))
    expect(drain(core)).toEqual([])
  })
})

describe('RaftCore: log matching', () => {
  it('refuses entries whose previous index it lacks, hinting where its log ends', () => {
    const { core } = makeCore(1, [1, 1])
    core.step(append(2, 2, 7, 2, [entry(8, 2)]))
    expect(drain(core)[0]).toMatchObject({ success: false, matchIndex: 7, conflictIndex: 3, conflictTerm: 0, seq: 0 })
  })

  it('refuses a mismatched previous term, hinting the first index of its conflicting term', () => {
    const { core } = makeCore(1, [1, 2, 2, 2])
    core.step(append(2, 3, 4, 3, [entry(5, 3)]))
    expect(drain(core)[0]).toMatchObject({ success: false, matchIndex: 4, conflictIndex: 2, conflictTerm: 2 })
  })

  it('appends after a match, replaces a conflicting suffix and keeps matching entries', () => {
    const { core, log } = makeCore(1, [1, 1, 2, 2])
    core.step(append(2, 3, 2, 1, [entry(3, 2), entry(4, 3), entry(5, 3)], 4))
    const messages = drain(core, log)
    expect(messages[0]).toMatchObject({ success: true, matchIndex: 5 })
    expect(log.slice(1).map((e) => e.term)).toEqual([1, 1, 2, 3, 3])
    expect(core.committed).toBe(4)
  })

  it('a stale, shorter AppendEntries does not truncate entries that match', () => {
    const { core, log } = makeCore(1, [1, 1, 1, 1])
    core.step(append(2, 1, 1, 1, [entry(2, 1)]))
    drain(core, log)
    expect(log.lastIndex).toBe(4)
  })
})

describe('RaftCore: the commit rule', () => {
  it('a new leader appends a no-op in its term and commits only by counting entries of that term (Figure 8)', () => {
    const { core, log } = makeLeader([1, 1])
    const term = core.currentTerm
    expect(log.slice(3)[0]).toMatchObject({ index: 3, term, type: EntryType.NoOp })
    // A follower holding only the old-term entries does not let the leader commit them.
    core.step({ type: 'AppendEntriesResponse', from: 2, to: 1, term, success: true, matchIndex: 2, conflictIndex: 0, conflictTerm: 0, seq: 0 })
    drain(core, log)
    expect(core.committed).toBe(0)
    // Once a majority holds the no-op, it commits, and the old entries with it.
    core.step({ type: 'AppendEntriesResponse', from: 2, to: 1, term, success: true, matchIndex: 3, conflictIndex: 0, conflictTerm: 0, seq: 0 })
    const ready = core.ready()
    expect(core.committed).toBe(3)
    expect(ready.commitIndex).toBe(3)
  })

  it('a Ready tells which committed entries are durable here (apply now) and which wait for its flush', () => {
    const { core, log } = makeCore(1, [], {}, [1, 2, 3])
    // Entries 1 and 2 arrive with a commit of 2: committed, not yet durable here.
    core.step(append(2, 1, 0, 0, [entry(1, 1), entry(2, 1)], 2))
    let ready = core.ready()
    expect(ready).toMatchObject({ commitIndex: 2, durableCommitIndex: 0, mustFlush: true })
    log.flush()
    core.advance(ready)
    // Entry 3 arrives, commit still 2: 1 and 2 are durable now.
    core.step(append(2, 1, 2, 1, [entry(3, 1)], 2))
    ready = core.ready()
    expect(ready).toMatchObject({ commitIndex: 2, durableCommitIndex: 2 })
    log.flush()
    core.advance(ready)
    // A new leader replaces entry 3 (durable, uncommitted) and commits its own 3: not durable yet.
    core.step(append(3, 2, 2, 1, [entry(3, 2), entry(4, 2)], 3))
    ready = core.ready()
    expect(ready).toMatchObject({ commitIndex: 3, durableCommitIndex: 2 })
    log.flush()
    core.advance(ready)
    // Entry 5 arrives with a commit of 4: 3 and 4, committed and durable, apply now.
    core.step(append(3, 2, 4, 2, [entry(5, 2)], 4))
    expect(core.ready()).toMatchObject({ commitIndex: 4, durableCommitIndex: 4 })
  })

  it('a leader committed through its followers applies at once only what its own log holds durably', () => {
    const { core, log } = makeLeader([], [1, 2, 3])
    drain(core, log)
    const term = core.currentTerm
    const first = core.propose(Buffer.from('x'))!
    drain(core, log)
    const second = core.propose(Buffer.from('y'))!
    const unflushed = core.ready()
    // Both followers hold both: committed at `second`, of which the leader holds `first` durably.
    for (const from of [2, 3]) core.step({ type: 'AppendEntriesResponse', from, to: 1, term, success: true, matchIndex: second, conflictIndex: 0, conflictTerm: 0, seq: 0 })
    expect(core.ready()).toMatchObject({ commitIndex: second, durableCommitIndex: first })
    log.flush()
    core.advance(unflushed)
    core.step({ type: 'AppendEntriesResponse', from: 2, to: 1, term, success: true, matchIndex: second, conflictIndex: 0, conflictTerm: 0, seq: 0 })
    expect(core.ready()).toMatchObject({ commitIndex: second, durableCommitIndex: second })
  })

  it('the leader counts itself only once its own log is flushed', () => {
    const { core, log } = makeLeader([], [1, 2, 3])
    drain(core, log)
    const index = core.propose(Buffer.from('x'))!
    core.step({ type: 'AppendEntriesResponse', from: 2, to: 1, term: core.currentTerm, success: true, matchIndex: index, conflictIndex: 0, conflictTerm: 0, seq: 0 })
    expect(core.committed).toBeLessThan(index)
    drain(core, log)
    expect(core.committed).toBe(index)
  })

  /** A leader of nodes 2 and 3, both holding its whole log; ack() answers for one of them. */
  function leaderWithFollowersCaughtUp(): { core: RaftCore; log: MemoryLogStore; ack: (from: number, matchIndex: number) => void } {
    const { core, log } = makeLeader([], [1, 2, 3])
    const term = core.currentTerm
    const ack = (from: number, matchIndex: number): void => core.step({ type: 'AppendEntriesResponse', from, to: 1, term, success: true, matchIndex, conflictIndex: 0, conflictTerm: 0, seq: 0 })
    ack(2, log.lastIndex)
    ack(3, log.lastIndex)
    drain(core, log)
    return { core, log, ack }
  }

  it('tells the followers a new commit at once, by a notice they do not answer, when nothing is left uncommitted', () => {
    const { core, log, ack } = leaderWithFollowersCaughtUp()
    const index = core.propose(Buffer.from('x'))!
    drain(core, log)
    ack(2, index)
    expect(core.committed).toBe(index)
    const notices = (sent: RaftMessage[]) => (sent.filter((m) => m.type === 'AppendEntries') as AppendEntries[]).map((m) => ({ to: m.to, prevLogIndex: m.prevLogIndex, entries: m.entries.length, leaderCommit: m.leaderCommit, commitNotice: m.commitNotice }))
    // Both were sent the entry, node 3 not yet acknowledging it (still writing it): a notice at
    // the last entry sent tells each the commit.
    expect(notices(drain(core, log))).toEqual([
      { to: 2, prevLogIndex: index, entries: 0, leaderCommit: index, commitNotice: true },
      { to: 3, prevLogIndex: index, entries: 0, leaderCommit: index, commitNotice: true },
    ])
    expect(core.commitNotifyDue).toBe(false)
    // Nothing new to tell: nothing sent.
    ack(3, index)
    ack(2, index)
    expect(drain(core, log)).toEqual([])
  })

  it("tells a follower at once when its first answer to a new leader (out of probing) commits", () => {
    const { core, log } = makeLeader([1, 1], [1, 2, 3])
    drain(core, log)
    const noop = log.lastIndex
    core.step({ type: 'AppendEntriesResponse', from: 2, to: 1, term: core.currentTerm, success: true, matchIndex: noop, conflictIndex: 0, conflictTerm: 0, seq: 0 })
    expect(core.committed).toBe(noop)
    const sent = (drain(core, log).filter((m) => m.type === 'AppendEntries') as AppendEntries[]).map((m) => ({ to: m.to, prevLogIndex: m.prevLogIndex, leaderCommit: m.leaderCommit, commitNotice: m.commitNotice }))
    expect(sent).toEqual([{ to: 2, prevLogIndex: noop, leaderCommit: noop, commitNotice: true }])
  })

  it('while entries remain uncommitted, waits for a proposal to carry a commit, or for the driver (soon after)', () => {
    const { core, log, ack } = leaderWithFollowersCaughtUp()
    const first = core.propose(Buffer.from('x'))!
    drain(core, log)
    const second = core.propose(Buffer.from('y'))!
    drain(core, log)
    // The first commits while the second is in flight: its acknowledgement will commit more.
    ack(2, first)
    expect(core.committed).toBe(first)
    expect(drain(core, log).filter((m) => m.type === 'AppendEntries')).toEqual([])
    expect(core.commitNotifyDue).toBe(true)
    // A proposal that goes out first carries the commit: then there is nothing left to tell.
    const third = core.propose(Buffer.from('z'))!
    const carried = drain(core, log) as AppendEntries[]
    expect(carried.map((m) => ({ to: m.to, entries: m.entries.length, leaderCommit: m.leaderCommit, commitNotice: m.commitNotice }))).toEqual([
      { to: 2, entries: 1, leaderCommit: first, commitNotice: undefined },
      { to: 3, entries: 1, leaderCommit: first, commitNotice: undefined },
    ])
    core.notifyCommitNow()
    expect(drain(core, log)).toEqual([])
    // The second commits with the third in flight: the driver asks, and each follower is told
    // at the last entry it was sent (the third), which it commits up to the second once it holds it.
    ack(2, second)
    expect(drain(core, log)).toEqual([])
    core.notifyCommitNow()
    const sent = drain(core, log) as AppendEntries[]
    expect(sent.map((m) => ({ to: m.to, prevLogIndex: m.prevLogIndex, leaderCommit: m.leaderCommit, commitNotice: m.commitNotice }))).toEqual([
      { to: 2, prevLogIndex: third, leaderCommit: second, commitNotice: true },
      { to: 3, prevLogIndex: third, leaderCommit: second, commitNotice: true },
    ])
  })

  it('a follower takes a commit notice without answering it, only where its log matches the notice', () => {
    const { core, log } = makeCore(1, [1, 1, 1])
    const notice = (prevLogIndex: number, prevLogTerm: number, leaderCommit: number): AppendEntries => ({ ...append(2, 1, prevLogIndex, prevLogTerm, [], leaderCommit), commitNotice: true })
    core.step(notice(2, 1, 3))
    expect(drain(core, log)).toEqual([])
    expect(core.committed).toBe(2)
    // A notice past its log, or where its log differs, changes nothing and is not answered either.
    core.step(notice(5, 1, 5))
    core.step(notice(3, 2, 5))
    expect(drain(core, log)).toEqual([])
    expect(core.committed).toBe(2)
    expect(core.leaderId).toBe(2)
  })

  it('a follower told the commit of an entry it is still writing applies it once that write is durable', () => {
    const { core, log } = makeCore(1, [1, 1, 1])
    core.step(append(2, 1, 3, 1, [entry(4, 1)], 3))
    core.step({ ...append(2, 1, 4, 1, [], 4), commitNotice: true })
    const ready = core.ready()
    expect(ready).toMatchObject({ commitIndex: 4, durableCommitIndex: 3, mustFlush: true })
    expect(ready.messages.map((m) => m.type)).toEqual(['AppendEntriesResponse'])
    log.flush()
    core.advance(ready)
    core.step(append(2, 1, 4, 1, [], 4))
    expect(core.ready()).toMatchObject({ commitIndex: 4, durableCommitIndex: 4 })
  })

  it('a follower takes the leader commit only up to what this message matched', () => {
    const { core, log } = makeCore(1, [1, 1, 1])
    core.step(append(2, 1, 1, 1, [], 3))
    drain(core, log)
    expect(core.committed).toBe(1)
  })

  it('backtracks over a follower log in one step per term, using the hints', () => {
    const { core, log } = makeLeader([1, 1, 1, 1, 1])
    const term = core.currentTerm
    drain(core, log)
    core.step({ type: 'AppendEntriesResponse', from: 2, to: 1, term, success: false, matchIndex: 5, conflictIndex: 2, conflictTerm: 9, seq: 1 })
    const [retry] = drain(core, log) as AppendEntries[]
    expect(retry).toMatchObject({ type: 'AppendEntries', to: 2, prevLogIndex: 1 })
    expect(retry!.entries.map((e) => e.index)).toEqual([2, 3, 4, 5, 6])
  })

  it('a leader that loses contact with its majority steps down (check quorum)', () => {
    const { core, log } = makeLeader([1])
    for (let i = 0; i < 25; i++) {
      core.tick()
      drain(core, log)
    }
    expect(core.role).toBe('follower')
  })

  it('answers vote requests from nodes its configuration does not name (it may be behind), and follows a leader it does not know yet', () => {
    const log = new MemoryLogStore()
    const core = new RaftCore({ id: 1, peers: [1, 2, 3], log, hardState: { currentTerm: 1, votedFor: 0, commitIndex: 0 }, electionTicks: [10, 10], heartbeatTicks: 2, random: seededRandom(1) })
    // Node 9 may be a voter of a configuration this node has not received: refusing could leave
    // a live majority unable to elect anyone (test/raft/membership-elections.test.ts).
    core.step(vote(9, 5, 1, 1))
    expect(drain(core)).toMatchObject([{ type: 'RequestVoteResponse', to: 9, term: 5, voteGranted: true }])
    // The leader of a newer configuration is heard; then, within its lease, a pre-vote of a
    // removed node (or anyone) goes unanswered and changes no term.
    core.step(append(7, 6, 0, 0, []))
    expect(core.leaderId).toBe(7)
    expect(core.currentTerm).toBe(6)
    drain(core)
    core.step(vote(8, 9, 5, 6, true))
    expect(drain(core)).toEqual([])
    expect(core.currentTerm).toBe(6)
  })
})

describe('RaftCore: a node that joined', () => {
  function joiner(memberSince: number): RaftCore {
    // Its log starts with the cluster's past: a configuration in which its id was the only voter
    // (another node under the same id, long ago), and the one that added it at index 3.
    const log = new MemoryLogStore()
    const past = { voters: [1], outgoing: [], learners: [], addresses: {} }
    log.append([{ term: 1, type: EntryType.Config, data: encodeConfiguration(past) }, { term: 1, data: Buffer.from('old') }])
    log.flush()
    return new RaftCore({ id: 1, peers: [], configurations: [{ index: 1, config: past }], log, hardState: { currentTerm: 0, votedFor: 0, commitIndex: 0 }, electionTicks: [10, 10], heartbeatTicks: 2, random: seededRandom(1), memberSince })
  }

  it('never campaigns on a configuration older than the one that made it a member', () => {
    const core = joiner(3)
    for (let i = 0; i < 50; i++) core.tick()
    expect(drain(core)).toEqual([])
    expect([core.role, core.currentTerm]).toEqual(['follower', 0])
  })

  it('a founding node (memberSince 0) on the same log would elect itself: the rule is what stops it', () => {
    const core = joiner(0)
    for (let i = 0; i < 50; i++) core.tick()
    drain(core)
    expect(core.role).toBe('leader')
  })
})

describe('RaftCore: term headroom', () => {
  it('ignores a message whose term leaves no room to grow (2^52 and up), and a node at the last term never stands', () => {
    const { core } = makeCore(1, [1])
    core.step(append(2, 2 ** 52, 1, 1, []))
    expect(core.currentTerm).toBe(1)
    core.step(vote(3, 2 ** 53 - 1, 10, 1))
    expect([core.currentTerm, core.vote]).toEqual([1, 0])
    core.step(append(2, 2 ** 52 - 1, 1, 1, []))
    expect(core.currentTerm).toBe(2 ** 52 - 1)
    for (let i = 0; i < 100; i++) core.tick()
    expect(drain(core).filter((m) => m.type === 'RequestVote')).toEqual([])
    expect(core.currentTerm).toBe(2 ** 52 - 1)
  })
})
