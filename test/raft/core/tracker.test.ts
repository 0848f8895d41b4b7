// The quorum questions a leader asks of its followers' progress (etcd's tracker.ProgressTracker):
// what a quorum holds, what it answered, since when it heard from the leader, whether it is still
// there, and who would best succeed it.
import { describe, expect, it } from 'vitest'
import { ProgressTracker } from '../../../src/raft/core/tracker.js'
import type { Progress } from '../../../src/raft/core/progress.js'
import { votersOnly, type Configuration } from '../../../src/raft/core/configuration.js'

const limits = { maxInflightAppends: 4, maxInflightBytes: 1 << 20 }

/** A leader (node 1) tracking `followers`, each at the match given. */
function trackerWith(matches: Record<number, number>): ProgressTracker {
  const tracker = new ProgressTracker(limits)
  tracker.track(new Set(Object.keys(matches).map(Number)), 1)
  for (const [id, match] of Object.entries(matches)) (tracker.get(Number(id)) as Progress).match = match
  return tracker
}

function joint(voters: number[], outgoing: number[], learners: number[] = []): Configuration {
  return { voters, outgoing, learners, addresses: {} }
}

/** The follower answered the message numbered `seq`, which the leader sent it at tick `sentAt`. */
function answeredSentAt(progress: Progress, seq: number, sentAt: number): void {
  progress.recordSent(seq, sentAt)
  progress.answered(seq)
}

describe('ProgressTracker: committed index', () => {
  it("counts the leader's own log only as far as it is durable on its disk (the leader writes in parallel, dissertation §10.2.1; etcd counts its own match after the append is persisted)", () => {
    const tracker = trackerWith({ 2: 5, 3: 5 })
    const config = votersOnly([1, 2, 3])
    expect(tracker.committed(config, 1, 7)).toBe(5)
    // Followers at 2 and 3, the leader's disk at 3: a majority holds 3 only.
    const behind = trackerWith({ 2: 2, 3: 9 })
    expect(behind.committed(config, 1, 3)).toBe(3)
    expect(behind.committed(config, 1, 0)).toBe(2)
  })

  it('counts a voter it tracks no progress for as holding nothing', () => {
    const tracker = trackerWith({ 2: 8 })
    expect(tracker.committed(votersOnly([1, 2, 3, 4]), 1, 8)).toBe(0)
    expect(tracker.committed(votersOnly([1, 2, 3]), 1, 8)).toBe(8)
  })

  it('never counts learners toward a commit (dissertation §4.2.1)', () => {
    const tracker = trackerWith({ 2: 0, 3: 0, 4: 9, 5: 9 })
    expect(tracker.committed(joint([1, 2, 3], [], [4, 5]), 1, 9)).toBe(0)
  })

  it('needs a majority of each half of C_old,new, and a leader that C_new leaves out does not count itself in it (dissertation §4.2.2)', () => {
    const config = joint([2, 3, 4], [1, 2, 3])
    const tracker = trackerWith({ 2: 10, 3: 0, 4: 0 })
    // C_old: 1 and 2 hold 10; C_new: only 2 does.
    expect(tracker.committed(config, 1, 10)).toBe(0)
    ;(tracker.get(4) as Progress).match = 10
    expect(tracker.committed(config, 1, 10)).toBe(10)
  })
})

describe('ProgressTracker: ReadIndex and lease', () => {
  it('confirms a ReadIndex round once a majority answered a message numbered at or after it, the leader answering everything (dissertation §6.4)', () => {
    const tracker = trackerWith({ 2: 0, 3: 0 })
    const config = votersOnly([1, 2, 3])
    expect(tracker.quorumAckedSeq(config, 1)).toBe(0)
    ;(tracker.get(2) as Progress).answered(5)
    ;(tracker.get(3) as Progress).answered(3)
    expect(tracker.quorumAckedSeq(config, 1)).toBe(5)
    // Four voters: the leader and two more.
    expect(tracker.quorumAckedSeq(votersOnly([1, 2, 3, 4]), 1)).toBe(3)
  })

  it('starts a lease at the sending of the messages a majority answered, not at their answers (dissertation §6.4.1)', () => {
    const tracker = trackerWith({ 2: 0, 3: 0 })
    const config = votersOnly([1, 2, 3])
    expect(tracker.quorumLeaseFrom(config, 1)).toBe(Number.NEGATIVE_INFINITY)
    answeredSentAt(tracker.get(2) as Progress, 1, 10)
    expect(tracker.quorumLeaseFrom(config, 1)).toBe(10)
    answeredSentAt(tracker.get(3) as Progress, 2, 14)
    // The leader and node 3 heard at 14: a majority since 14.
    expect(tracker.quorumLeaseFrom(config, 1)).toBe(14)
  })

  it('gives no lease in C_old,new until a majority of each half answered', () => {
    const tracker = trackerWith({ 2: 0, 3: 0, 4: 0 })
    const config = joint([1, 2, 4], [1, 2, 3])
    answeredSentAt(tracker.get(3) as Progress, 1, 20)
    expect(tracker.quorumLeaseFrom(config, 1)).toBe(Number.NEGATIVE_INFINITY)
    answeredSentAt(tracker.get(4) as Progress, 2, 25)
    expect(tracker.quorumLeaseFrom(config, 1)).toBe(20)
  })
})

describe('ProgressTracker: check quorum and who was heard from', () => {
  it('says whether a majority answered since the last check, then starts counting again (check quorum, dissertation §6.2)', () => {
    const tracker = trackerWith({ 2: 0, 3: 0 })
    const config = votersOnly([1, 2, 3])
    // A member just tracked counts as active: the first check comes before it had a chance to
    // answer (etcd marks an added node recently active for the same reason).
    expect(tracker.quorumActive(config, 1)).toBe(true)
    expect(tracker.quorumActive(config, 1)).toBe(false)
    ;(tracker.get(3) as Progress).recentActive = true
    expect(tracker.quorumActive(config, 1)).toBe(true)
    expect(tracker.quorumActive(config, 1)).toBe(false)
  })

  it('does not keep a leader in office on the answers of learners, nor of one half of C_old,new', () => {
    const tracker = trackerWith({ 2: 0, 3: 0, 4: 0, 5: 0 })
    tracker.quorumActive(joint([1, 2, 3], [], [4, 5]), 1)
    ;(tracker.get(4) as Progress).recentActive = true
    ;(tracker.get(5) as Progress).recentActive = true
    expect(tracker.quorumActive(joint([1, 2, 3], [], [4, 5]), 1)).toBe(false)
    ;(tracker.get(3) as Progress).recentActive = true
    expect(tracker.quorumActive(joint([1, 2, 4], [1, 2, 3]), 1)).toBe(false)
  })

  it('says whether a member answered within a window of ticks (never: no)', () => {
    const tracker = trackerWith({ 2: 0 })
    expect(tracker.heardWithin(2, 100, 10)).toBe(false)
    expect(tracker.heardWithin(7, 100, 10)).toBe(false)
    ;(tracker.get(2) as Progress).lastHeardAt = 91
    expect(tracker.heardWithin(2, 100, 10)).toBe(true)
    expect(tracker.heardWithin(2, 101, 10)).toBe(false)
  })
})

describe('ProgressTracker: the most up-to-date voter', () => {
  it('picks the voter holding the most of the log, never the leader itself (a transfer target that needs the least catching up, dissertation §3.10)', () => {
    const tracker = trackerWith({ 2: 5, 3: 9, 4: 7 })
    expect(tracker.mostUpToDateVoter(votersOnly([1, 2, 3, 4]), 1)).toBe(3)
  })

  it('never picks a learner, however far ahead, nor a voter only C_old has (C_new governs after the change)', () => {
    const tracker = trackerWith({ 2: 5, 3: 9, 4: 9 })
    expect(tracker.mostUpToDateVoter(joint([1, 2], [], [4]), 1)).toBe(2)
    expect(tracker.mostUpToDateVoter(joint([1, 2], [1, 2, 3]), 1)).toBe(2)
  })

  it('picks only among the voters the caller finds eligible (a stopping leader hands over to one heard from lately), 0 when none is', () => {
    const tracker = trackerWith({ 2: 5, 3: 9 })
    ;(tracker.get(2) as Progress).lastHeardAt = 100
    ;(tracker.get(3) as Progress).lastHeardAt = 40
    const heardLately = (_id: number, progress: Progress | undefined): boolean => progress !== undefined && 100 - progress.lastHeardAt <= 4
    expect(tracker.mostUpToDateVoter(votersOnly([1, 2, 3]), 1, heardLately)).toBe(2)
    ;(tracker.get(2) as Progress).lastHeardAt = 50
    expect(tracker.mostUpToDateVoter(votersOnly([1, 2, 3]), 1, heardLately)).toBe(0)
  })

  it('never picks a voter it tracks nothing of, and finds none in a cluster of one', () => {
    const tracker = trackerWith({ 2: 5 })
    expect(tracker.mostUpToDateVoter(votersOnly([1, 2, 3]), 1)).toBe(2)
    expect(tracker.mostUpToDateVoter(votersOnly([1, 3]), 1, () => true)).toBe(0)
    expect(tracker.mostUpToDateVoter(votersOnly([1]), 1)).toBe(0)
  })

  it('breaks a tie the same way every time: the first voter of the configuration', () => {
    const tracker = trackerWith({ 2: 9, 3: 9 })
    expect(tracker.mostUpToDateVoter(votersOnly([1, 2, 3]), 1)).toBe(2)
  })
})

describe('ProgressTracker: members and votes', () => {
  it('keeps the progress of members that stay when the members change, drops those that left, and probes new ones from the next index', () => {
    const tracker = trackerWith({ 2: 5, 3: 6 })
    tracker.track(new Set([2, 4]), 11)
    expect(tracker.ids().sort()).toEqual([2, 4])
    expect(tracker.get(2)?.match).toBe(5)
    expect(tracker.get(3)).toBeUndefined()
    expect([tracker.get(4)?.state, tracker.get(4)?.match, tracker.get(4)?.next]).toEqual(['probe', 0, 11])
    expect(tracker.get(4)?.inflights.maxCount).toBe(limits.maxInflightAppends)
  })

  it("starts an election with the candidate's own vote, and tallies the rest with the configuration (joint: both halves)", () => {
    const tracker = new ProgressTracker(limits)
    tracker.resetVotes(1)
    expect(tracker.tallyVotes(votersOnly([1]))).toBe('won')
    expect(tracker.tallyVotes(votersOnly([1, 2, 3]))).toBe('pending')
    tracker.recordVote(2, true)
    tracker.recordVote(3, false)
    expect(tracker.tallyVotes(votersOnly([1, 2, 3]))).toBe('won')
    expect(tracker.tallyVotes(joint([1, 2, 4], [1, 3, 5]))).toBe('pending')
    tracker.recordVote(5, false)
    expect(tracker.tallyVotes(joint([1, 2, 4], [1, 3, 5]))).toBe('lost')
    expect(tracker.grantedVotes().sort()).toEqual([1, 2])
    // A new election forgets the last one's votes.
    tracker.resetVotes(1)
    expect(tracker.grantedVotes()).toEqual([1])
    expect(tracker.tallyVotes(votersOnly([1, 2, 3]))).toBe('pending')
  })
})
