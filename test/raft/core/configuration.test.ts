// A configuration as Config entries carry it (Raft dissertation chapter 4): every node writes and
// reads the same bytes, and answers the same membership questions of them.
import { describe, expect, it } from 'vitest'
import { RaftLogError } from '../../../src/errors.js'
import { decodeConfiguration, encodeConfiguration, isJoint, isVoter, membersOf, removedOf, sameMembers, votersOnly, type Configuration } from '../../../src/raft/core/configuration.js'

const token = '0123456789abcdef0123456789abcdef'
const text = (config: Configuration): string => Buffer.from(encodeConfiguration(config)).toString()

function corrupt(json: string): RaftLogError {
  try {
    decodeConfiguration(Buffer.from(json))
  } catch (error) {
    return error as RaftLogError
  }
  throw new Error(`${json} decoded`)
}

describe('Configuration entries', () => {
  it('are the same bytes on every node, whatever order the members were listed in', () => {
    const a: Configuration = { voters: [3, 1, 2], outgoing: [2, 1], learners: [5, 4], addresses: { 3: 'h3', 1: 'h1', 2: 'h2', 4: 'h4', 5: 'h5' }, removed: [9, 7] }
    const b: Configuration = { voters: [1, 2, 3], outgoing: [1, 2], learners: [4, 5], addresses: { 1: 'h1', 2: 'h2', 3: 'h3', 4: 'h4', 5: 'h5' }, removed: [7, 9] }
    expect(Buffer.from(encodeConfiguration(a)).equals(Buffer.from(encodeConfiguration(b)))).toBe(true)
  })

  it("keep the bytes they always had when no id was removed and none waits for promotion (a new cluster's id hashes its first configuration)", () => {
    expect(text(votersOnly([2, 1], { 1: 'a:1', 2: 'b:2' }))).toBe('{"voters":[1,2],"outgoing":[],"learners":[],"addresses":{"1":"a:1","2":"b:2"}}')
    expect(text({ ...votersOnly([1]), removed: [], promoteWhenCaughtUp: [] })).toBe('{"voters":[1],"outgoing":[],"learners":[],"addresses":{}}')
  })

  it("carry only members' addresses (a learner leaving in C_old,new is no member of it)", () => {
    const config: Configuration = { voters: [1, 2], outgoing: [1, 2], learners: [], addresses: { 1: 'h1', 2: 'h2', 4: 'h4' }, removed: [4] }
    expect(decodeConfiguration(encodeConfiguration(config)).addresses).toEqual({ 1: 'h1', 2: 'h2' })
  })

  it('decode to what was encoded, also from a view inside a larger buffer (entries are read from mapped segments)', () => {
    const config: Configuration = { voters: [1, 2, 4], outgoing: [1, 2, 3], learners: [5], addresses: { 1: 'h1', 2: 'h2', 3: 'h3', 4: 'h4', 5: '' }, removed: [3], promoteWhenCaughtUp: [5], clusterToken: token }
    const bytes = encodeConfiguration(config)
    const frame = Buffer.alloc(bytes.length + 20, 0x7b)
    frame.set(bytes, 10)
    expect(decodeConfiguration(frame.subarray(10, 10 + bytes.length))).toEqual(config)
  })

  it('written before removed ids were kept decode with none removed', () => {
    const config = decodeConfiguration(Buffer.from('{"voters":[1,2],"outgoing":[],"learners":[3],"addresses":{}}'))
    expect(removedOf(config)).toEqual([])
    expect(config.removed).toBeUndefined()
    expect(config.promoteWhenCaughtUp).toBeUndefined()
  })

  it('that are damaged are refused with ERR_CORRUPT and a message naming what is wrong', () => {
    expect([corrupt('{"voters":').code, corrupt('{"voters":').message]).toEqual(['ERR_CORRUPT', 'A configuration entry of 10 bytes is not JSON'])
    expect(corrupt('{"outgoing":[],"learners":[]}').message).toBe("A configuration entry's voters is not a list of node ids")
    expect(corrupt('{"voters":[0],"outgoing":[],"learners":[]}').message).toBe("A configuration entry's voters is not a list of node ids")
    expect(corrupt('{"voters":[1],"outgoing":[],"learners":[1.5]}').message).toBe("A configuration entry's learners is not a list of node ids")
    expect(corrupt('{"voters":[1],"outgoing":[],"learners":[],"removed":"2"}').message).toBe("A configuration entry's removed is not a list of node ids")
    expect(corrupt('{"voters":[1],"outgoing":[],"learners":[],"addresses":7}').message).toBe("A configuration entry's addresses are not a map")
    expect(corrupt(`{"voters":[1],"outgoing":[],"learners":[],"clusterToken":"${token.toUpperCase()}"}`).message).toBe("A configuration entry's clusterToken is not 32 hex digits")
    expect(corrupt('{"voters":[1],"outgoing":[],"learners":[]}x').code).toBe('ERR_CORRUPT')
  })
})

describe('Membership questions', () => {
  const config: Configuration = { voters: [1, 2, 4], outgoing: [1, 2, 3], learners: [5], addresses: {} }

  it('counts as members the voters of both halves and the learners, each once, sorted', () => {
    expect(membersOf(config)).toEqual([1, 2, 3, 4, 5])
  })

  it('counts as voters those of either half of C_old,new, never learners (dissertation §4.3)', () => {
    expect([1, 2, 3, 4, 5, 6].map((id) => isVoter(config, id))).toEqual([true, true, true, true, false, false])
    expect(isJoint(config)).toBe(true)
    expect(isJoint(votersOnly([1]))).toBe(false)
  })

  it('gives the removed ids sorted, as a copy', () => {
    const withRemoved: Configuration = { ...config, removed: [9, 3] }
    const removed = removedOf(withRemoved)
    expect(removed).toEqual([3, 9])
    removed.push(11)
    expect(withRemoved.removed).toEqual([9, 3])
  })

  it("says two configurations have the same members whatever their order, addresses or token (a token-only entry changes nobody's vote)", () => {
    expect(sameMembers(config, { voters: [4, 2, 1], outgoing: [3, 2, 1], learners: [5], addresses: { 1: 'x' }, clusterToken: token })).toBe(true)
    expect(sameMembers(config, { ...config, learners: [] })).toBe(false)
    expect(sameMembers(votersOnly([1, 2, 4]), { ...votersOnly([1, 2, 4]), outgoing: [1, 2, 4] })).toBe(false)
    expect(sameMembers(votersOnly([1, 2]), votersOnly([1, 3]))).toBe(false)
  })

  it("makes a new cluster's first configuration of voters only, sorted", () => {
    expect(votersOnly([3, 1, 2], { 1: 'h1' })).toEqual({ voters: [1, 2, 3], outgoing: [], learners: [], addresses: { 1: 'h1' } })
  })
})
