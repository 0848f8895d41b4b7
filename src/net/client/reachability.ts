// Why a client cannot get an answer, judged from one round of Status calls: nothing listens, or
// too few nodes answer to elect a leader. Either way, waiting for the timeout would not help.
import { RaftLogError } from '../../errors.js'
import type { NodeStatus } from './node-status.js'
import { tlsFailure, tlsHint, type ClientTlsUse } from '../tls/tls-failure.js'

/** The codes of the problems below (and of a node refusing the client outright): waiting would not help. */
export const unreachableCodes: ReadonlySet<string> = new Set(['ERR_NO_MAJORITY', 'ERR_NO_CLUSTER', 'ERR_TLS_UNTRUSTED', 'ERR_UNAUTHENTICATED'])

/**
 * The problem that makes waiting useless, or undefined when a leader may yet answer. `refused`
 * holds the addresses where no connection could be made: nothing listens there. A node that
 * took the connection and did not answer in time may be slow, not gone: it leaves hope. `client`
 * says what TLS the client offered, for the words when TLS is why no node answered.
 */
export function unreachableProblem(statuses: NodeStatus[], refused: ReadonlySet<string>, client: ClientTlsUse = { tls: false, certificate: false }): RaftLogError | undefined {
  const reachable = statuses.filter((status) => status.reachable)
  const tried = statuses.map((status) => status.address).join(', ')
  if (statuses.some((status) => !status.reachable && !refused.has(status.address))) return undefined
  if (reachable.length === 0) {
    // A certificate one side does not trust, or none where one is required: say so, not "is it running?".
    const tls = statuses.map((status) => tlsFailure(status.address, status.error ?? '')).find((problem) => problem !== undefined)
    if (tls !== undefined) return tls
    // Something listens but the connection failed all the same: most often TLS on one side only.
    const hint = tlsHint(statuses.map((status) => status.error ?? ''), client)
    return new RaftLogError('ERR_NO_CLUSTER', `no node answered: is the cluster running? tried ${tried}${hint}`, { tried: statuses.map((status) => status.address) })
  }
  const majority = Math.floor(statuses.length / 2) + 1
  // A node that knows a leader (itself, say) may be right: an answer may still come.
  const leaderKnown = reachable.some((status) => status.leaderId !== undefined && status.leaderId !== 0)
  if (reachable.length >= majority || leaderKnown) return undefined
  const answered = reachable.map((status) => status.address).join(', ')
  return new RaftLogError(
    'ERR_NO_MAJORITY',
    `no majority of the cluster is reachable: ${reachable.length} of ${statuses.length} nodes answered (${answered}) and none knows a leader; electing one needs ${majority}`,
    { reachable: reachable.map((status) => status.address), tried: statuses.map((status) => status.address) },
  )
}
