// etcd's lease checkpoints over three raftlog node servers in this process: the leader commits what
// a lease has left every lease_checkpoint_interval_ms, so after a change of leader the new leader
// counts from that, not from the whole TTL (which let leader changes keep a dead holder's lease).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClusterClient } from '../../../src/net/client/cluster-client.js'
import { encodeKvCommand } from '../../../src/kv/kv-state-machine.js'
import { pause, settled, startServers, stopServers, type Servers } from '../../helpers/node-servers.js'

let servers: Servers
let client: ClusterClient

beforeAll(async () => {
  servers = await startServers(false, { lease_checkpoint_interval_ms: 1000 })
  await settled(servers)
  client = new ClusterClient(servers.config.nodes.map((node) => node.address))
})

afterAll(async () => {
  client.close()
  await stopServers(servers)
})

describe('lease checkpoints', () => {
  it('a new leader counts a lease from its last checkpoint, not from its whole TTL', async () => {
    const lease = await client.grantLease(60, { keepAlive: false })
    // Past one interval and a check or two: the leader has committed what the lease has left.
    await pause(2600)
    const { leader, follower } = await settled(servers)
    expect(await leader.node.transferLeadership(follower.node.id)).toBe(follower.node.id)
    await settled(servers)
    const { ttl, grantedTtl } = await client.leaseTimeToLive(lease.id)
    expect(grantedTtl).toBe(60)
    // About 57.4 s truly left; the last checkpoint said 58 or 59, less the time since the new leader
    // started counting, cut down to whole seconds (as etcd's): 56 to 58. The whole TTL would be 59.
    expect(ttl).toBeGreaterThanOrEqual(56)
    expect(ttl).toBeLessThanOrEqual(58)
  })

  it("refuses a checkpoint a client proposes: only the leader's clock writes them", async () => {
    const lease = await client.grantLease(60, { keepAlive: false })
    const forged = encodeKvCommand({ op: 'leaseCheckpoint', proposedAt: 2 ** 40, checkpoints: [{ id: lease.id, remaining: 1 }] })
    await expect(client.propose(forged, 5000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining("A lease checkpoint is written by the leader's lease clock") })
    expect((await client.leaseTimeToLive(lease.id)).ttl).toBeGreaterThan(50)
  })
})
