// Which cluster, and which node of it, a directory belongs to. Recorded in raft_state.meta at the
// first start; a node refuses a directory of another node or cluster, so a mistyped --node-id or
// log_directory cannot mix two logs (etcd checks its member and cluster ids the same way).
import { createHash, randomBytes } from 'node:crypto'
import { RaftLogError } from '../../errors.js'
import type { RaftState } from '../../storage/raft-state-file.js'
import { encodeConfiguration, type Configuration } from '../core/configuration.js'

/** 32 hex digits. */
const clusterIdPattern = /^[0-9a-f]{32}$/

/**
 * The id of a new cluster: a hash of its name and first configuration, so every node that
 * bootstraps from the same file finds the same id without talking to the others.
 */
export function deriveClusterId(firstConfiguration: Configuration, name = ''): string {
  return createHash('sha256').update('raftlog cluster\0').update(name).update('\0').update(encodeConfiguration(firstConfiguration)).digest('hex').slice(0, 32)
}

/** A random cluster token (32 hex digits): the part of a cluster's identity its first leader chooses. */
export function newClusterToken(): string {
  return randomBytes(16).toString('hex')
}

/**
 * The cluster's id as users see it (32 hex digits): the founding id (a hash of the first
 * configuration, known to every founding node at once) until the first leader's random token is
 * committed, then a hash of both. Two clusters founded from the same node list differ from then on.
 */
export function clusterIdOf(foundingId: string, token: string | undefined): string {
  if (token === undefined || foundingId === '') return foundingId
  // A node asks for its id on every etcd answer's header (every watch event): the last one is kept.
  if (lastClusterId !== undefined && lastClusterId.foundingId === foundingId && lastClusterId.token === token) return lastClusterId.id
  const id = createHash('sha256').update('raftlog cluster token\0').update(foundingId).update('\0').update(token).digest('hex').slice(0, 32)
  lastClusterId = { foundingId, token, id }
  return id
}

let lastClusterId: { foundingId: string; token: string; id: string } | undefined

export function checkClusterId(clusterId: string, argument: string): string {
  if (!clusterIdPattern.test(clusterId)) throw new RaftLogError('ERR_BAD_ARGUMENT', `${argument} must be 32 lowercase hex digits, got ${JSON.stringify(clusterId)}`, { argument })
  return clusterId
}

/**
 * The identity this start goes on with: the recorded one, checked against what the caller says
 * (ERR_WRONG_NODE, ERR_WRONG_CLUSTER), else what the caller says. `clusterId` undefined: the
 * caller does not know (a restart of a node that joined); '' is returned when nobody knows.
 */
export function settleIdentity(recorded: RaftState, nodeId: number, clusterId: string | undefined, dir: string): { nodeId: number; clusterId: string } {
  const recordedNode = recorded.nodeId ?? 0
  if (recordedNode !== 0 && recordedNode !== nodeId) {
    throw new RaftLogError('ERR_WRONG_NODE', `${dir} belongs to node ${recordedNode}, not node ${nodeId}: check --node-id and log_directory`, { dir, nodeId: recordedNode })
  }
  const recordedCluster = recorded.clusterId ?? ''
  if (recordedCluster !== '' && clusterId !== undefined && clusterId !== recordedCluster) {
    throw new RaftLogError('ERR_WRONG_CLUSTER', `${dir} belongs to cluster ${recordedCluster}, not cluster ${clusterId}: it is another cluster's directory`, { dir, clusterId: recordedCluster })
  }
  return { nodeId, clusterId: recordedCluster !== '' ? recordedCluster : (clusterId ?? '') }
}
