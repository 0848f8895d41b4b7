import { describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { RaftStateFile, RaftLogError, type RaftState } from '../../src/index.js'
import { tempDir } from '../helpers/temp-dir.js'
import { crc32 } from '../../src/storage/segment-format.js'
import { maxConfigurationBytes } from '../../src/storage/raft-state-file.js'

const slotSize = 4096

function stateOf(term: number): RaftState {
  return {
    currentTerm: term,
    votedFor: term % 3,
    commitIndex: term * 10,
    lastApplied: term * 9,
    serverState: (term % 3) as 0 | 1 | 2,
    nodeId: 7,
    clusterId: '0123456789abcdef0123456789abcdef',
    memberSince: 0,
    removed: false,
  }
}

describe('RaftStateFile', () => {
  it('a new file loads as all zero and is 8 KiB', () => {
    const path = join(tempDir(), 'raft_state.meta')
    const file = RaftStateFile.open(path)
    expect(file.load()).toEqual({ currentTerm: 0, votedFor: 0, commitIndex: 0, lastApplied: 0, serverState: 0, nodeId: 0, clusterId: '', memberSince: 0, removed: false })
    file.close()
    expect(statSync(path).size).toBe(2 * slotSize)
  })

  it('saves alternate between the two slots and the newest wins on load', () => {
    const path = join(tempDir(), 'raft_state.meta')
    const file = RaftStateFile.open(path)
    for (let term = 1; term <= 5; term++) file.save(stateOf(term))
    expect(file.currentSlotInfo).toEqual({ slot: 0, sequence: 5 })
    file.close()
    const again = RaftStateFile.open(path)
    expect(again.load()).toEqual(stateOf(5))
    again.save(stateOf(6))
    expect(again.currentSlotInfo).toEqual({ slot: 1, sequence: 6 })
    again.close()
    const bytes = readFileSync(path)
    expect(bytes.subarray(0, 4).toString()).toBe('RAFT')
    expect(bytes.subarray(slotSize, slotSize + 4).toString()).toBe('RAFT')
  })

  it('a torn save (the newer slot corrupted) loads the previous state', () => {
    const path = join(tempDir(), 'raft_state.meta')
    const file = RaftStateFile.open(path)
    file.save(stateOf(1))
    file.save(stateOf(2)) // slot 1, sequence 2
    file.close()
    const bytes = readFileSync(path)
    bytes[slotSize + 9] = bytes[slotSize + 9]! ^ 0x40 // inside slot 1's term: its CRC no longer matches
    writeFileSync(path, bytes)
    const again = RaftStateFile.open(path)
    expect(again.load()).toEqual(stateOf(1))
    // The next save overwrites the torn slot, never the good one.
    again.save(stateOf(3))
    again.close()
    expect(RaftStateFile.inspect(readFileSync(path)).map((slot) => [slot.valid, slot.sequence])).toEqual([
      [true, 1],
      [true, 2],
    ])
  })

  it('a half-written newer slot (zeros past its middle) loads the previous state', () => {
    const path = join(tempDir(), 'raft_state.meta')
    const file = RaftStateFile.open(path)
    file.save(stateOf(4))
    file.save(stateOf(5))
    file.close()
    const bytes = readFileSync(path)
    bytes.fill(0, slotSize + 24, slotSize + 60)
    writeFileSync(path, bytes)
    const again = RaftStateFile.open(path)
    expect(again.load()).toEqual(stateOf(4))
    again.close()
  })

  it('both slots corrupt is ERR_CORRUPT naming the file', () => {
    const path = join(tempDir(), 'raft_state.meta')
    const file = RaftStateFile.open(path)
    file.save(stateOf(1))
    file.save(stateOf(2))
    file.close()
    const bytes = readFileSync(path)
    bytes[9] = bytes[9]! ^ 1
    bytes[slotSize + 9] = bytes[slotSize + 9]! ^ 1
    writeFileSync(path, bytes)
    expect(() => RaftStateFile.open(path)).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT', message: expect.stringContaining(path) }))
  })

  it('refuses bad state without writing, a second open, and use after close', () => {
    const path = join(tempDir(), 'raft_state.meta')
    const file = RaftStateFile.open(path)
    file.save(stateOf(1))
    const bad: [Partial<RaftState>, RegExp][] = [
      [{ currentTerm: -1 }, /state.currentTerm/],
      [{ currentTerm: 1.5 }, /state.currentTerm/],
      [{ votedFor: 2 ** 32 }, /state.votedFor/],
      [{ commitIndex: Number.NaN }, /state.commitIndex/],
      [{ lastApplied: '3' as never }, /state.lastApplied/],
      [{ serverState: 3 as never }, /state.serverState/],
      [{ nodeId: -2 }, /state.nodeId/],
      [{ clusterId: 'not hex' }, /state.clusterId/],
      [{ memberSince: -1 }, /state.memberSince/],
      [{ currentTerm: 2 ** 52 }, /state.currentTerm must be at most 4503599627370495/],
      [{ commitIndex: 2 ** 53 - 1 }, /state.commitIndex must be at most/],
      [{ configuration: { index: 3, data: new Uint8Array(maxConfigurationBytes + 1) } }, /does not fit/],
      [{ configuration: { index: -3, data: new Uint8Array(1) } }, /state.configuration.index/],
    ]
    for (const [change, message] of bad) {
      expect(() => file.save({ ...stateOf(2), ...change })).toThrow(message)
    }
    expect(file.load()).toEqual(stateOf(1))
    expect(() => RaftStateFile.open(path)).toThrow(expect.objectContaining({ code: 'ERR_LOCKED' }))
    file.close()
    expect(() => file.load()).toThrow(RaftLogError)
    expect(() => file.save(stateOf(3))).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }))
    expect(RaftStateFile.open(path).load()).toEqual(stateOf(1))
  })

  it('keeps the node and cluster id when a save leaves them out, and clears them only when told', () => {
    const path = join(tempDir(), 'raft_state.meta')
    const file = RaftStateFile.open(path)
    file.save(stateOf(1))
    const { nodeId: _node, clusterId: _cluster, ...withoutIdentity } = stateOf(2)
    file.save(withoutIdentity)
    file.save({ ...withoutIdentity, currentTerm: 3 })
    file.close()
    const again = RaftStateFile.open(path)
    expect(again.load()).toEqual({ ...stateOf(2), currentTerm: 3 })
    again.save({ ...withoutIdentity, clusterId: '' })
    again.save({ ...withoutIdentity, currentTerm: 4 }) // into the slot that held the id: cleared, not left over
    again.close()
    expect(RaftStateFile.open(path).load()).toMatchObject({ currentTerm: 4, nodeId: 7, clusterId: '' })
  })

  it('keeps the member-since index and the last committed configuration, of any size up to the limit, across saves and opens', () => {
    const path = join(tempDir(), 'raft_state.meta')
    const file = RaftStateFile.open(path)
    const configuration = { index: 42, data: Buffer.from('{"voters":[1,2,3]}') }
    file.save({ ...stateOf(1), memberSince: 17, configuration })
    const { memberSince: _left, ...withoutMemberSince } = stateOf(2)
    file.save(withoutMemberSince) // leaves both out: kept
    file.close()
    let again = RaftStateFile.open(path)
    expect(again.load()).toEqual({ ...stateOf(2), memberSince: 17, configuration })
    again.save({ ...stateOf(3), removed: true })
    again.close()
    again = RaftStateFile.open(path)
    expect(again.load()).toMatchObject({ removed: true, memberSince: 0 })
    const largest = { index: 43, data: Buffer.alloc(maxConfigurationBytes, 0x61) }
    again.save({ ...stateOf(3), configuration: largest })
    again.close()
    again = RaftStateFile.open(path)
    expect(again.load().configuration).toEqual(largest)
    again.close()
  })

  it('reads a version 2 file (no configuration) and writes version 3 from then on', () => {
    const path = join(tempDir(), 'raft_state.meta')
    const v2 = Buffer.alloc(2 * slotSize)
    v2.write('RAFT', 0, 'ascii')
    v2.writeUInt32LE(2, 4) // version
    v2.writeBigUInt64LE(5n, 8) // term
    v2.writeBigUInt64LE(1n, 40) // sequence
    v2.writeUInt32LE(3, 48) // node id
    v2.fill(0xab, 52, 68) // cluster id
    v2.writeUInt32LE(crc32(v2.subarray(0, 68)), 68)
    writeFileSync(path, v2)
    const file = RaftStateFile.open(path)
    expect(file.load()).toEqual({ currentTerm: 5, votedFor: 0, commitIndex: 0, lastApplied: 0, serverState: 0, nodeId: 3, clusterId: 'ab'.repeat(16), memberSince: 0, removed: false })
    file.save({ ...file.load(), configuration: { index: 1, data: Buffer.from('{}') } })
    file.close()
    expect(readFileSync(path).readUInt32LE(slotSize + 4)).toBe(3)
    expect(RaftStateFile.open(path).load()).toMatchObject({ currentTerm: 5, nodeId: 3, clusterId: 'ab'.repeat(16), configuration: { index: 1 } })
  })

  it('reads a version 1 file (no identity) and writes version 3 from then on', () => {
    const path = join(tempDir(), 'raft_state.meta')
    const v1 = Buffer.alloc(2 * slotSize)
    v1.write('RAFT', 0, 'ascii')
    v1.writeUInt32LE(1, 4) // version
    v1.writeBigUInt64LE(5n, 8) // term
    v1.writeUInt32LE(2, 16) // voted for
    v1.writeBigUInt64LE(40n, 20) // commit
    v1.writeBigUInt64LE(39n, 28) // applied
    v1[36] = 0
    v1.writeBigUInt64LE(1n, 40) // sequence
    v1.writeUInt32LE(crc32(v1.subarray(0, 48)), 48)
    writeFileSync(path, v1)
    const file = RaftStateFile.open(path)
    expect(file.load()).toEqual({ currentTerm: 5, votedFor: 2, commitIndex: 40, lastApplied: 39, serverState: 0, nodeId: 0, clusterId: '', memberSince: 0, removed: false })
    file.save({ ...file.load(), nodeId: 3 })
    file.close()
    expect(readFileSync(path).readUInt32LE(slotSize + 4)).toBe(3)
    expect(RaftStateFile.open(path).load()).toMatchObject({ currentTerm: 5, nodeId: 3 })
  })
})
