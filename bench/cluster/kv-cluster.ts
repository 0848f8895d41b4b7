// What the driver needs of a running 3-member cluster, raftlog's or etcd's: its client and the
// server processes whose CPU is counted.

export type SystemName = 'raftlog' | 'etcd'

export interface KvCluster {
  system: SystemName
  /** For the report: version, members and the settings that matter for the figures. */
  description: string
  /** The three server processes. */
  pids: number[]
  /** A durable, replicated put. */
  put(key: string, value: string): Promise<unknown>
  /** A linearizable read. */
  get(key: string): Promise<unknown>
  /** etcd's Range of one key, linearizable: raftlog's through KvClient.range (its etcd range, after a ReadIndex). */
  range(key: string): Promise<unknown>
  /** A compare-and-put transaction: if the key holds `value`, put `value` (it always does, so every one writes). */
  txn(key: string, value: string): Promise<unknown>
  /** The members' etcd API addresses (host:port) and the leader's: the watch and lock rows call them over raw gRPC. */
  etcdApi(): Promise<{ leader: string; members: string[] }>
  /** The member that leads now ("node 2", "m1"), or "none". */
  leader(): Promise<string>
  /** Closes the client; ServerProcesses stops the servers. */
  close(): void
}

/** Longest one operation may take; past it the operation counts as an error. */
export const operationTimeoutMs = 10_000
/** Longest a fresh cluster may take to elect a leader and commit a first put. */
export const startupTimeoutMs = 30_000
/** Pause between two attempts while a cluster starts. */
export const startupRetryMs = 200
