// A many-group node from the configuration file: its engine's directory and its clock, taken from
// the file's heartbeat_interval and election_timeout_range.
import { describe, expect, it } from 'vitest'
import { hostDirectory, hostTiming, hostsOf } from '../../../src/kv/sharded/sharded-kv-node.js'
import { loadClusterConfig, type ClusterConfig } from '../../../src/net/config/cluster-config.js'

describe('a many-group node from the configuration', () => {
  const shipped = loadClusterConfig('cluster_config.yaml')

  it('ticks once per heartbeat and elects within the file\'s range, in whole ticks', () => {
    expect(hostTiming(shipped)).toEqual({ tickMs: 100, electionTicks: [10, 20] })
    expect(hostTiming({ ...shipped, heartbeatInterval: 30, electionTimeout: [150, 300] } as ClusterConfig)).toEqual({ tickMs: 30, electionTicks: [5, 10] })
    // A range narrower than two ticks is widened: equal timeouts would split votes forever.
    expect(hostTiming({ ...shipped, heartbeatInterval: 100, electionTimeout: [150, 160] } as ClusterConfig)).toEqual({ tickMs: 100, electionTicks: [2, 4] })
  })

  it('keeps its engine in host_<id>, apart from a one-group node\'s node_<id>', () => {
    expect(hostDirectory(shipped, 2)).toMatch(/raft_logs\/host_2$/)
    expect(hostsOf(shipped)).toEqual([{ id: 1, address: '127.0.0.1:18001' }, { id: 2, address: '127.0.0.1:18002' }, { id: 3, address: '127.0.0.1:18003' }])
  })
})
