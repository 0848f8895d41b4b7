// Why a call to a node failed, in a user's words: what `raftlog status` and `member list` show for
// a node they could not ask. grpc-js says "No connection established. Last error: Error: connect
// ECONNREFUSED 127.0.0.1:18003" or "Deadline exceeded after 1.995s,name resolution: 0.001s,…";
// the errno name stays in the words (tools and people search for it).
import * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../errors.js'

/** A grpc-js error's words without the resolver notes it appends ("Resolution note: …"), which say nothing to a user. */
export function grpcErrorText(error: { details?: string; message: string }): string {
  return (error.details || error.message).replace(/\.?\s*Resolution note:.*$/s, '')
}

export function describeCallFailure(error: Error & { code?: number }, timeoutMs: number): string {
  const text = error.message
  const errno = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ECONNRESET|ETIMEDOUT)\b/.exec(text)?.[1]
  switch (errno) {
    case 'ECONNREFUSED':
      return 'not running: nothing listens at that address (ECONNREFUSED)'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `its host name does not resolve (${errno})`
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to its host (${errno})`
    case 'ECONNRESET':
      return 'the connection was reset (ECONNRESET)'
  }
  if (error.code === grpc.status.DEADLINE_EXCEEDED || errno === 'ETIMEDOUT') return `no answer within ${timeoutMs} ms`
  if (error.code === grpc.status.UNAUTHENTICATED) return `it refused this client: ${text}`
  if (error.code === grpc.status.UNAVAILABLE && text.startsWith('ERR_STARTING: ')) return text.slice('ERR_STARTING: '.length).replace(/^node \d+ /, 'it ')
  if (error.code === grpc.status.UNIMPLEMENTED) return 'it runs many Raft groups, not one (it does not serve raftlog.RaftClient): ask it with --config, where its nodes are known by id'
  const last = /^No connection established\. Last error: (?:Error: )?([\s\S]*)$/.exec(text)?.[1]
  // "Failed to connect (<time>)": the socket closed before the connection was set up.
  if (last !== undefined) return /^Failed to connect \(/.test(last) ? 'the connection closed before it was set up (TLS on one side only?)' : `no connection could be made: ${last}`
  return `it did not answer as a raftlog node (${text})`
}

/**
 * The error for a node that does not serve raftlog.RaftClient: it runs many Raft groups
 * (cluster_settings.groups), whose nodes serve RaftHostClient, known by id from the configuration.
 */
export function manyGroupsNode(address: string): RaftLogError {
  return new RaftLogError(
    'ERR_MANY_GROUPS',
    `${address} runs many Raft groups (it does not serve raftlog.RaftClient): this works on one-group clusters only; on a many-group cluster use kv put, get, delete and cas, group and status, with --config (its nodes are known by id, not by --endpoints)`,
    { address },
  )
}
