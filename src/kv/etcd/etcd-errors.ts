// raftlog's refusals as etcd answers them: the gRPC code and etcd's own words (etcd's rpctypes),
// which etcd's clients match on to raise their typed errors and etcdctl prints as they are.
import * as grpc from '@grpc/grpc-js'

export interface EtcdError {
  code: grpc.status
  details: string
}

const etcdErrors: Record<string, EtcdError> = {
  ERR_COMPACTED: { code: grpc.status.OUT_OF_RANGE, details: 'etcdserver: mvcc: required revision has been compacted' },
  ERR_FUTURE_REVISION: { code: grpc.status.OUT_OF_RANGE, details: 'etcdserver: mvcc: required revision is a future revision' },
  ERR_KEY_NOT_FOUND: { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: key not found' },
  ERR_LEASE_NOT_FOUND: { code: grpc.status.NOT_FOUND, details: 'etcdserver: requested lease not found' },
  ERR_LEASE_EXISTS: { code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: lease already exists' },
  // etcd's v3election server returns its recipe's plain errors (concurrency.ErrElectionNotLeader): UNKNOWN, no "etcdserver: ".
  ERR_NOT_ELECTION_LEADER: { code: grpc.status.UNKNOWN, details: 'election: not leader' },
  ERR_NO_ELECTION_LEADER: { code: grpc.status.UNKNOWN, details: 'election: no leader' },
  ERR_CANCELLED: { code: grpc.status.CANCELLED, details: 'context canceled' },
  ERR_KEY_TOO_LARGE: { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: request is too large' },
  ERR_REQUEST_TOO_LARGE: { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: request is too large' },
  ERR_NOT_LEADER: { code: grpc.status.UNAVAILABLE, details: 'etcdserver: no leader' },
  ERR_NO_LEADER: { code: grpc.status.UNAVAILABLE, details: 'etcdserver: no leader' },
  ERR_LEADERSHIP_LOST: { code: grpc.status.UNAVAILABLE, details: 'etcdserver: leader changed' },
  ERR_LEADERSHIP_TRANSFER: { code: grpc.status.UNAVAILABLE, details: 'etcdserver: leader changed' },
  ERR_PROPOSAL_DROPPED: { code: grpc.status.UNAVAILABLE, details: 'etcdserver: leader changed' },
  ERR_TIMEOUT: { code: grpc.status.UNAVAILABLE, details: 'etcdserver: request timed out' },
  ERR_STOPPED: { code: grpc.status.UNAVAILABLE, details: 'etcdserver: server stopped' },
}

export const emptyKey: EtcdError = { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: key is not provided' }

/** The etcd answer for `error`: etcd's words when etcd has the same refusal, else raftlog's code and message (UNAVAILABLE for a full disk, which passes). */
export function etcdError(error: unknown): EtcdError {
  const code = String((error as { code?: unknown }).code ?? '')
  const known = etcdErrors[code]
  if (known !== undefined) return known
  if (code === 'ERR_BAD_ARGUMENT' && /duplicate key/.test(String((error as Error).message))) return { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: duplicate key given in txn request' }
  if (code === 'ERR_BAD_ARGUMENT' && /lease is provided/.test(String((error as Error).message))) return { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: lease is provided' }
  const details = `${code === '' ? 'ERROR' : code}: ${(error as Error).message ?? String(error)}`
  if (code === 'ERR_DISK_FULL') return { code: grpc.status.UNAVAILABLE, details }
  if (code === 'ERR_LOG_FULL') return { code: grpc.status.RESOURCE_EXHAUSTED, details }
  return { code: grpc.status.UNKNOWN, details }
}

/**
 * A refusal of etcd's v3lock and v3election services, as etcd's answer it: those servers return
 * the errors of their recipes (and of the client inside them) as plain errors, so gRPC sends
 * UNKNOWN with etcd's words where the KV and Lease services send NOT_FOUND, INVALID_ARGUMENT and
 * the like. Kept as they are: UNAVAILABLE (a client asks another node after it), a call cancelled
 * or past its deadline (gRPC's own), and UNIMPLEMENTED (raftlog's: what it does not do).
 */
export function etcdRecipeError(error: unknown): EtcdError {
  return recipeRefusal(etcdError(error))
}

const keptByRecipes: ReadonlySet<grpc.status> = new Set([grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.DEADLINE_EXCEEDED, grpc.status.UNIMPLEMENTED, grpc.status.UNKNOWN])

/** `answer` (a refusal of the KV and Lease services' kind) as etcd's v3lock and v3election servers send it. */
export function recipeRefusal(answer: EtcdError): EtcdError {
  return keptByRecipes.has(answer.code) ? answer : { code: grpc.status.UNKNOWN, details: answer.details }
}
