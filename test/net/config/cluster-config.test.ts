import { describe, expect, it } from 'vitest'
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { loadClusterConfig } from '../../../src/net/config/cluster-config.js'
import { pageSizeBytes } from '../../../src/storage/native.js'
import { tempDir } from '../../helpers/temp-dir.js'

const threeNodes = `nodes:
  - { node_id: 1, ip_address: "127.0.0.1", port: 18001 }
  - { node_id: 2, ip_address: "127.0.0.1", port: 18002 }
  - { node_id: 3, ip_address: "127.0.0.1", port: 18003 }
`

function configFile(text: string): string {
  const path = join(tempDir('raftlog-config-'), 'cluster.yaml')
  writeFileSync(path, text)
  return path
}

/** The message of the error loading `text` throws; fails the test if it loads. */
function problem(text: string): { path: string; message: string; code: string; field: unknown } {
  const path = configFile(text)
  try {
    loadClusterConfig(path)
  } catch (error) {
    const e = error as { message: string; code: string; details: { field?: unknown } }
    return { path, message: e.message, code: e.code, field: e.details.field }
  }
  throw new Error(`expected ${path} to be refused:\n${text}`)
}

describe('loadClusterConfig', () => {
  it('reads the shipped cluster_config.yaml with the documented defaults', () => {
    const config = loadClusterConfig('cluster_config.yaml')
    expect(config.nodes).toEqual([
      { nodeId: 1, ipAddress: '127.0.0.1', port: 18001, address: '127.0.0.1:18001' },
      { nodeId: 2, ipAddress: '127.0.0.1', port: 18002, address: '127.0.0.1:18002' },
      { nodeId: 3, ipAddress: '127.0.0.1', port: 18003, address: '127.0.0.1:18003' },
    ])
    expect(config).toMatchObject({ logSegmentSize: 67108864, maxEntriesPerQuery: 1000, electionTimeout: [1000, 2000], heartbeatInterval: 100, maxRequestBytes: 1536 * 1024, maxKeyBytes: 64 * 1024 })
    expect(config.logDirectory).toBe(resolve('raft_logs'))
  })

  it('fills every setting in when cluster_settings is left out, and takes log_directory relative to the file', () => {
    const path = configFile(threeNodes)
    const config = loadClusterConfig(path)
    expect(config).toMatchObject({ path, logSegmentSize: 64 * 1024 * 1024, maxEntriesPerQuery: 1000, electionTimeout: [1000, 2000], heartbeatInterval: 100, maxRequestBytes: 1536 * 1024, maxKeyBytes: 64 * 1024, maxLogBytes: 0 })
    // A lower request limit lowers the default key limit with it.
    expect(loadClusterConfig(configFile(`${threeNodes}cluster_settings:\n  max_request_bytes: 4096\n`)).maxKeyBytes).toBe(4096)
    expect(config.logDirectory).toBe(join(path, '..', 'raft_logs'))
  })

  it('takes every setting given', () => {
    const config = loadClusterConfig(
      configFile(`${threeNodes}cluster_settings:
  log_directory: "/var/lib/raft"
  log_segment_size: ${pageSizeBytes() * 4}
  max_entries_per_query: 10
  election_timeout_range: { min: 300, max: 900 }
  heartbeat_interval: 100
  snapshot_threshold: 1000
  snapshot_trailing_entries: 0
  max_request_bytes: 16777216
  max_key_bytes: 1024
  max_log_bytes: ${pageSizeBytes() * 8}
`),
    )
    expect(config).toMatchObject({ logDirectory: '/var/lib/raft', logSegmentSize: pageSizeBytes() * 4, maxEntriesPerQuery: 10, electionTimeout: [300, 900], heartbeatInterval: 100, snapshotThreshold: 1000, snapshotTrailingEntries: 0, maxRequestBytes: 16777216, maxKeyBytes: 1024, maxLogBytes: pageSizeBytes() * 8 })
  })

  it('limits the connections to each node and the wait for a stalled snapshot, by default and as given', () => {
    expect(loadClusterConfig(configFile(threeNodes))).toMatchObject({
      snapshotStallTimeoutMs: 30_000,
      connectionLimits: { maxConnections: 1024, handshakeTimeoutMs: 10_000, idleTimeoutMs: 60_000, keepaliveIntervalMs: 30_000, keepaliveTimeoutMs: 10_000 },
    })
    const config = loadClusterConfig(configFile(`${threeNodes}cluster_settings:\n  snapshot_stall_timeout_ms: 5000\n  connection_limits: { max_connections: 64, idle_timeout_ms: 1000 }\n`))
    expect(config).toMatchObject({ snapshotStallTimeoutMs: 5000, connectionLimits: { maxConnections: 64, handshakeTimeoutMs: 10_000, idleTimeoutMs: 1000 } })
  })

  it("checkpoints leases every 5 minutes by default (etcd's interval), as given, or never with 0", () => {
    expect(loadClusterConfig(configFile(threeNodes)).leaseCheckpointIntervalMs).toBe(300_000)
    expect(loadClusterConfig(configFile(`${threeNodes}cluster_settings:\n  lease_checkpoint_interval_ms: 0\n`)).leaseCheckpointIntervalMs).toBe(0)
    expect(() => loadClusterConfig(configFile(`${threeNodes}cluster_settings:\n  lease_checkpoint_interval_ms: -5\n`))).toThrow(/cluster_settings\.lease_checkpoint_interval_ms must be a whole number from 0 to 2147483647, got -5/)
  })

  it('puts an IPv6 address in brackets before its port, and takes host names', () => {
    const config = loadClusterConfig(configFile('nodes:\n  - { node_id: 1, ip_address: "::1", port: 18001 }\n  - { node_id: 2, ip_address: "node-2.example", port: 18002 }\n'))
    expect(config.nodes.map((node) => node.address)).toEqual(['[::1]:18001', 'node-2.example:18002'])
  })

  it('says in one line that a directory, or a binary file, is not a YAML configuration', () => {
    const dir = tempDir('raftlog-config-')
    expect(() => loadClusterConfig(dir)).toThrow(new RegExp(`^Configuration file ${dir} is a directory, not a YAML file$`))
    const binary = join(dir, 'segment.log')
    writeFileSync(binary, Buffer.from([0x52, 0x41, 0x46, 0x54, 0, 0, 0, 1, 0xff]))
    expect(() => loadClusterConfig(binary)).toThrow(new RegExp(`^Invalid configuration file ${binary}: not a YAML text file \\(it holds binary data\\)$`))
  })

  it('takes a metrics port per node, and none when it is left out', () => {
    const config = loadClusterConfig(configFile('nodes:\n  - { node_id: 1, ip_address: "127.0.0.1", port: 18001, metrics_port: 9101 }\n  - { node_id: 2, ip_address: "127.0.0.1", port: 18002 }\n'))
    expect(config.nodes.map((node) => node.metricsPort)).toEqual([9101, undefined])
  })

  it('takes groups and replication for a many-group cluster, and none by default', () => {
    expect(loadClusterConfig(configFile(threeNodes))).not.toHaveProperty('groups')
    expect(loadClusterConfig(configFile(`${threeNodes}cluster_settings:\n  groups: 64\n  replication: 2\n`))).toMatchObject({ groups: 64, replication: 2 })
    expect(problem(`${threeNodes}cluster_settings:\n  groups: 0\n`)).toMatchObject({ code: 'ERR_CONFIG', field: 'cluster_settings.groups', message: expect.stringContaining('cluster_settings.groups must be a whole number from 1 to 100000, got 0') })
    expect(problem(`${threeNodes}cluster_settings:\n  groups: 8\n  replication: 4\n`)).toMatchObject({ field: 'cluster_settings.replication', message: expect.stringContaining('from 1 to 3, got 4') })
    // Without groups in the file too: for nodes started with --groups (a one-group node refuses it).
    expect(loadClusterConfig(configFile(`${threeNodes}cluster_settings:\n  replication: 2\n`))).toMatchObject({ replication: 2 })
  })

  it('takes a many-group cluster\'s commit delay in whole milliseconds, none by default', () => {
    expect(loadClusterConfig(configFile(`${threeNodes}cluster_settings:\n  groups: 64\n`))).not.toHaveProperty('commitDelayMs')
    expect(loadClusterConfig(configFile(`${threeNodes}cluster_settings:\n  groups: 64\n  commit_delay_ms: 1\n`))).toMatchObject({ groups: 64, commitDelayMs: 1 })
    expect(problem(`${threeNodes}cluster_settings:\n  groups: 8\n  commit_delay_ms: 1001\n`)).toMatchObject({ field: 'cluster_settings.commit_delay_ms', message: expect.stringContaining('from 0 to 1000, got 1001') })
    expect(loadClusterConfig(configFile(`${threeNodes}cluster_settings:\n  commit_delay_ms: 1\n`))).toMatchObject({ commitDelayMs: 1 })
  })

  it('names a missing file exactly as the reference design does', () => {
    expect(() => loadClusterConfig('missing_config.yaml')).toThrow(/^Configuration file not found: missing_config\.yaml$/)
  })

  const refused: [string, string, RegExp][] = [
    ['broken YAML', 'nodes: [', /not valid YAML/],
    ['a list at the top', '- 1\n', /the document must be a mapping with nodes \(and cluster_settings\), got a list$/],
    ['a text that is not a configuration', 'hello world\n', /the document must be a mapping with nodes \(and cluster_settings\), got a string$/],
    ['an empty file', '', /the document must be a mapping with nodes \(and cluster_settings\), got nothing$/],
    ['Markdown', '# raftlog\n\nA durable log:\nsee below\n', /not valid YAML: [^\n]*[^:]$/],
    ['an unknown top-level key', `${threeNodes}cluster: x\n`, /the document\.cluster is not a known setting/],
    ['no nodes', 'nodes: []\n', /nodes must be a non-empty list/],
    ['a snapshot threshold of 0', `${threeNodes}cluster_settings:\n  snapshot_threshold: 0\n`, /cluster_settings\.snapshot_threshold must be a whole number from 1/],
    ['a request limit above 16 MiB', `${threeNodes}cluster_settings:\n  max_request_bytes: 16777217\n`, /cluster_settings\.max_request_bytes must be a whole number from 1024 to 16777216, got 16777217/],
    ['a key limit above the request limit', `${threeNodes}cluster_settings:\n  max_request_bytes: 2048\n  max_key_bytes: 4096\n`, /cluster_settings\.max_key_bytes must be a whole number from 1 to 2048, got 4096/],
    ['a log ceiling below two segments', `${threeNodes}cluster_settings:\n  log_segment_size: 1048576\n  max_log_bytes: 1048576\n`, /cluster_settings\.max_log_bytes must be 0 \(no ceiling\) or at least twice log_segment_size \(2097152 bytes\): a log keeps its open segment and compaction frees whole segments only; got 1048576/],
    ['a negative log ceiling', `${threeNodes}cluster_settings:\n  max_log_bytes: -1\n`, /cluster_settings\.max_log_bytes must be a whole number from 0/],
    ['negative trailing entries', `${threeNodes}cluster_settings:\n  snapshot_trailing_entries: -1\n`, /cluster_settings\.snapshot_trailing_entries must be a whole number from 0/],
    ['an unknown node key', 'nodes:\n  - { node_id: 1, ip_address: "h", port: 1, colour: red }\n', /nodes\[0\]\.colour is not a known setting/],
    ['a node without an id', 'nodes:\n  - { ip_address: "h", port: 1 }\n', /nodes\[0\]\.node_id is missing/],
    ['node id 0', 'nodes:\n  - { node_id: 0, ip_address: "h", port: 1 }\n', /nodes\[0\]\.node_id must be a whole number from 1/],
    ['a node without an address', 'nodes:\n  - { node_id: 1, port: 1 }\n', /nodes\[0\]\.ip_address is missing/],
    ['an address with a port in it', 'nodes:\n  - { node_id: 1, ip_address: "10.0.0.1:9000", port: 1 }\n', /nodes\[0\]\.ip_address must be a host name or IP address \(no port\), got "10\.0\.0\.1:9000"/],
    ['an address that is a number', 'nodes:\n  - { node_id: 1, ip_address: 10, port: 1 }\n', /nodes\[0\]\.ip_address must be a host name or IP address/],
    ['a port as text', 'nodes:\n  - { node_id: 1, ip_address: "h", port: "80" }\n', /nodes\[0\]\.port must be a whole number from 1 to 65535, got "80"/],
    ['a port out of range', 'nodes:\n  - { node_id: 1, ip_address: "h", port: 70000 }\n', /nodes\[0\]\.port must be a whole number from 1 to 65535/],
    ['a duplicate id', 'nodes:\n  - { node_id: 1, ip_address: "h", port: 1 }\n  - { node_id: 1, ip_address: "h", port: 2 }\n', /nodes\[1\]\.node_id 1 is used twice/],
    ['a duplicate address', 'nodes:\n  - { node_id: 1, ip_address: "h", port: 1 }\n  - { node_id: 2, ip_address: "h", port: 1 }\n', /nodes\[1\]\.port h:1 is used twice/],
    ['a metrics port out of range', 'nodes:\n  - { node_id: 1, ip_address: "h", port: 1, metrics_port: 0 }\n', /nodes\[0\]\.metrics_port must be a whole number from 1 to 65535, got 0/],
    ['a metrics port as text', 'nodes:\n  - { node_id: 1, ip_address: "h", port: 1, metrics_port: "9100" }\n', /nodes\[0\]\.metrics_port must be a whole number from 1 to 65535, got "9100"/],
    ['a metrics port that is a node\'s port', 'nodes:\n  - { node_id: 1, ip_address: "h", port: 1, metrics_port: 2 }\n  - { node_id: 2, ip_address: "h", port: 2 }\n', /nodes\[0\]\.metrics_port 2 is node 2's port/],
    ['a metrics port used twice on one host', 'nodes:\n  - { node_id: 1, ip_address: "h", port: 1, metrics_port: 9 }\n  - { node_id: 2, ip_address: "h", port: 2, metrics_port: 9 }\n', /nodes\[1\]\.metrics_port h:9 is used twice/],
    ['an unknown setting', `${threeNodes}cluster_settings:\n  snapshot_every: 5\n`, /cluster_settings\.snapshot_every is not a known setting/],
    ['min above max', `${threeNodes}cluster_settings:\n  election_timeout_range: { min: 400, max: 200 }\n`, /cluster_settings\.election_timeout_range min 400 must be below max 200/],
    ['min equal to max', `${threeNodes}cluster_settings:\n  election_timeout_range: { min: 300, max: 300 }\n`, /cluster_settings\.election_timeout_range min 300 must be below max 300: a random timeout in that range ends split votes/],
    ['an unknown range key', `${threeNodes}cluster_settings:\n  election_timeout_range: { low: 1 }\n`, /election_timeout_range\.low is not a known setting/],
    ['a heartbeat not below the election timeout', `${threeNodes}cluster_settings:\n  heartbeat_interval: 1000\n`, /cluster_settings\.heartbeat_interval 1000 must be below the election timeout's min \(1000\)/],
    ['a segment size off the page size', `${threeNodes}cluster_settings:\n  log_segment_size: ${pageSizeBytes() * 2 + 1}\n`, /cluster_settings\.log_segment_size must be a multiple of the page size/],
    ['a segment size too small', `${threeNodes}cluster_settings:\n  log_segment_size: 100\n`, /cluster_settings\.log_segment_size must be a whole number from/],
    ['no entries per query', `${threeNodes}cluster_settings:\n  max_entries_per_query: 0\n`, /cluster_settings\.max_entries_per_query must be a whole number from 1/],
    ['an unknown connection limit', `${threeNodes}cluster_settings:\n  connection_limits: { max_streams: 5 }\n`, /cluster_settings\.connection_limits\.max_streams is not a known setting \(known: max_connections, handshake_timeout_ms, idle_timeout_ms, keepalive_interval_ms, keepalive_timeout_ms, max_concurrent_streams\)/],
    ['no connections at all', `${threeNodes}cluster_settings:\n  connection_limits: { max_connections: 0 }\n`, /cluster_settings\.connection_limits\.max_connections must be a whole number from 1 to 2147483647, got 0/],
    ['a timeout as text', `${threeNodes}cluster_settings:\n  connection_limits: { idle_timeout_ms: "1m" }\n`, /cluster_settings\.connection_limits\.idle_timeout_ms must be a whole number from 1 to 2147483647, got "1m"/],
    ['a snapshot stall timeout of 0', `${threeNodes}cluster_settings:\n  snapshot_stall_timeout_ms: 0\n`, /cluster_settings\.snapshot_stall_timeout_ms must be a whole number from 1 to 2147483647/],
    ['an empty log directory', `${threeNodes}cluster_settings:\n  log_directory: ""\n`, /cluster_settings\.log_directory must be a directory path/],
  ]
  for (const [what, text, expected] of refused) {
    it(`refuses ${what}, naming the file and the field`, () => {
      const { path, message, code } = problem(text)
      expect(code).toBe('ERR_CONFIG')
      expect(message).toMatch(expected)
      expect(message.startsWith(`Invalid configuration file ${path}: `)).toBe(true)
    })
  }
})
