// Cluster membership (Raft dissertation chapter 4): who votes, who only receives the log, and
// where each member listens. During a change the configuration is joint (C_old,new): a decision
// needs a majority of the old voters AND a majority of the new ones (quorum.ts counts them).
import { RaftLogError } from '../../errors.js'

export interface Configuration {
  /** Voters; during a joint change, the new set (C_new). */
  voters: number[]
  /** During a joint change, the old voters (C_old); empty otherwise. */
  outgoing: number[]
  /** Members that receive the log and snapshots but never vote nor count toward a commit. */
  learners: number[]
  /** host:port of each member by id, for a network transport ('' or absent when unknown). */
  addresses: Record<number, string>
  /**
   * Ids removed from the cluster, sorted: never members again. A node that comes back under a
   * removed id would hold votes and log entries of its earlier life (etcd refuses such a member
   * with "ID removed"). Absent in entries written before raftlog remembered them: read as [].
   */
  removed?: number[]
  /**
   * Learners the leader makes voters once they have caught up (they were asked for as voters):
   * a new member never votes before it runs and holds the log. Absent when none.
   */
  promoteWhenCaughtUp?: number[]
  /**
   * The random part of the cluster's identity (32 hex digits), chosen by its first leader and
   * committed like any configuration: two clusters founded from the same node list still differ
   * (etcd's --initial-cluster-token, made for you). Absent until then.
   */
  clusterToken?: string
}

export interface Member {
  id: number
  /** host:port where it serves Raft (and clients); '' when the transport needs none. */
  address: string
}

/** A configuration of voters only (a new cluster's first one). */
export function votersOnly(voters: readonly number[], addresses: Record<number, string> = {}): Configuration {
  return { voters: [...voters].sort((a, b) => a - b), outgoing: [], learners: [], addresses: { ...addresses } }
}

export function isJoint(config: Configuration): boolean {
  return config.outgoing.length > 0
}

/** Voters of either half of a joint configuration. */
export function isVoter(config: Configuration, id: number): boolean {
  return config.voters.includes(id) || config.outgoing.includes(id)
}

/** Every member: voters old and new, and learners. */
export function membersOf(config: Configuration): number[] {
  return [...new Set([...config.voters, ...config.outgoing, ...config.learners])].sort((a, b) => a - b)
}

/** A configuration as a Config entry's bytes (JSON, members sorted, so every node writes the same bytes). */
export function encodeConfiguration(config: Configuration): Uint8Array {
  const sorted = (ids: readonly number[]) => [...ids].sort((a, b) => a - b)
  const addresses: Record<string, string> = {}
  for (const id of membersOf(config)) if (config.addresses[id] !== undefined) addresses[id] = config.addresses[id] as string
  // `removed` only when there are some: a configuration without keeps the bytes it always had
  // (a new cluster's id is a hash of its first configuration).
  const removed = removedOf(config)
  const promote = sorted(config.promoteWhenCaughtUp ?? [])
  return Buffer.from(
    JSON.stringify({
      voters: sorted(config.voters),
      outgoing: sorted(config.outgoing),
      learners: sorted(config.learners),
      addresses,
      ...(removed.length > 0 ? { removed } : {}),
      ...(promote.length > 0 ? { promoteWhenCaughtUp: promote } : {}),
      ...(config.clusterToken === undefined ? {} : { clusterToken: config.clusterToken }),
    }),
  )
}

/** The ids `config` says were removed, sorted ([] for an entry written before they were kept). */
export function removedOf(config: Configuration): number[] {
  return [...(config.removed ?? [])].sort((a, b) => a - b)
}

export function decodeConfiguration(bytes: Uint8Array): Configuration {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString())
  } catch {
    throw new RaftLogError('ERR_CORRUPT', `A configuration entry of ${bytes.length} bytes is not JSON`)
  }
  const value = parsed as Partial<Record<keyof Configuration, unknown>>
  const ids = (field: keyof Configuration): number[] => {
    const list = field === 'removed' || field === 'promoteWhenCaughtUp' ? (value[field] ?? []) : value[field]
    if (!Array.isArray(list) || !list.every((id) => Number.isSafeInteger(id) && id >= 1)) throw new RaftLogError('ERR_CORRUPT', `A configuration entry's ${field} is not a list of node ids`)
    return list as number[]
  }
  const addresses: Record<number, string> = {}
  if (value.addresses !== undefined && (typeof value.addresses !== 'object' || value.addresses === null)) throw new RaftLogError('ERR_CORRUPT', "A configuration entry's addresses are not a map")
  for (const [id, address] of Object.entries(value.addresses ?? {})) if (typeof address === 'string') addresses[Number(id)] = address
  const removed = ids('removed')
  const promote = ids('promoteWhenCaughtUp')
  const token = value.clusterToken
  if (token !== undefined && (typeof token !== 'string' || !/^[0-9a-f]{32}$/.test(token))) throw new RaftLogError('ERR_CORRUPT', "A configuration entry's clusterToken is not 32 hex digits")
  return {
    voters: ids('voters'),
    outgoing: ids('outgoing'),
    learners: ids('learners'),
    addresses,
    ...(removed.length > 0 ? { removed } : {}),
    ...(promote.length > 0 ? { promoteWhenCaughtUp: promote } : {}),
    ...(token === undefined ? {} : { clusterToken: token }),
  }
}

export function describeConfiguration(config: Configuration): string {
  const list = (ids: readonly number[]) => (ids.length === 0 ? 'none' : ids.join(', '))
  const removed = removedOf(config)
  const promote = config.promoteWhenCaughtUp ?? []
  return `voters ${list(config.voters)}${isJoint(config) ? ` (joint with old voters ${list(config.outgoing)})` : ''}, learners ${list(config.learners)}${promote.length > 0 ? ` (${list(promote)} to become voters once caught up)` : ''}${removed.length > 0 ? `, removed ${list(removed)}` : ''}`
}

/** Whether two configurations have the same voters (both halves) and learners. */
export function sameMembers(a: Configuration, b: Configuration): boolean {
  const same = (x: readonly number[], y: readonly number[]): boolean => x.length === y.length && [...x].sort((p, q) => p - q).every((id, i) => id === [...y].sort((p, q) => p - q)[i])
  return same(a.voters, b.voters) && same(a.outgoing, b.outgoing) && same(a.learners, b.learners)
}
