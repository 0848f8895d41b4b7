// What `raftlog status` and `member list` say of a node they could not ask, for the answers a
// starting node and a many-group node give.
import { describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { describeCallFailure } from '../../../src/net/client/call-failure.js'

const failure = (code: grpc.status, message: string): Error & { code: number } => Object.assign(new Error(message), { code })

describe('describeCallFailure', () => {
  it('says a node is starting, in its own words, when it answered ERR_STARTING', () => {
    expect(describeCallFailure(failure(grpc.status.UNAVAILABLE, 'ERR_STARTING: node 2 is starting (checking its cluster, replaying its log): ask again shortly'), 2000)).toBe('it is starting (checking its cluster, replaying its log): ask again shortly')
  })

  it('says a port that does not serve raftlog.RaftClient runs many groups', () => {
    expect(describeCallFailure(failure(grpc.status.UNIMPLEMENTED, 'The server does not implement the method /raftlog.RaftClient/Status'), 2000)).toMatch(/^it runs many Raft groups/)
  })
})
