// The client service's membership calls: ChangeMembership, TransferLeadership and Join, served
// by the leader (a follower answers with the leader's address, as for Propose).
import * as grpc from '@grpc/grpc-js'
import type { RaftNode } from '../../raft/node/raft-node.js'
import type { MembershipChange } from '../../raft/core/membership-change.js'
import { membersOf, type Configuration } from '../../raft/core/configuration.js'
import { RaftLogError } from '../../errors.js'
import { toWireConfiguration, type WireMember } from '../membership-wire.js'
import { isHostPort } from '../config/host-port.js'

export interface MembershipAnswers {
  /** Answers "not the leader", with the leader's id and address when known. */
  notLeader(error: RaftLogError & { leaderId?: number }, callback: grpc.sendUnaryData<unknown>): void
}

interface ChangeRequest {
  addVoters: WireMember[]
  addLearners: WireMember[]
  promote: number[]
  remove: number[]
  /** Absent from a client older than these fields. */
  demote?: number[]
  updateAddresses?: WireMember[]
}

/** Errors a client should take to the leader; every other one is final. */
const notLeaderCodes = new Set(['ERR_NOT_LEADER', 'ERR_LEADERSHIP_TRANSFER', 'ERR_PROPOSAL_DROPPED'])

export function membershipService(node: RaftNode, answers: MembershipAnswers): grpc.UntypedServiceImplementation {
  const answer = <T>(work: Promise<T>, reply: (value: T) => object, callback: grpc.sendUnaryData<unknown>): void => {
    work.then(
      (value) => callback(null, reply(value)),
      (error: RaftLogError) => {
        if (notLeaderCodes.has(error.code)) answers.notLeader(error, callback)
        // Final: the client shows it and does not send the request again.
        else callback({ code: grpc.status.FAILED_PRECONDITION, details: `${error.code ?? 'ERROR'}: ${error.message}` })
      },
    )
  }
  return {
    ChangeMembership: (call: grpc.ServerUnaryCall<ChangeRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const { addVoters, addLearners, promote, remove, demote, updateAddresses } = call.request
      const change: MembershipChange = { addVoters, addLearners, promote, remove, demote: demote ?? [], updateAddresses: updateAddresses ?? [] }
      const problem = [...addVoters, ...addLearners, ...(updateAddresses ?? [])].map(addressProblem).find((found) => found !== undefined)
      if (problem !== undefined) return answer(Promise.reject(problem), () => ({}), callback)
      answer(node.changeMembership(change), (configuration) => ({ configuration: toWireConfiguration(configuration) }), callback)
    },
    TransferLeadership: (call: grpc.ServerUnaryCall<{ to: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const to = call.request.to === 0 ? undefined : call.request.to
      answer(node.transferLeadership(to), (leaderId) => ({ leaderId }), callback)
    },
    Join: (call: grpc.ServerUnaryCall<WireMember, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      answer(join(node, call.request), (configuration) => ({ clusterId: node.foundingId, configuration: toWireConfiguration(configuration), memberSince: node.memberSince(call.request.id) }), callback)
    },
  }
}

/**
 * Adds `member` as a learner, unless it already is a member at that address (a join asked again,
 * or by a node that restarts with --join): then the configuration as it is.
 */
function join(node: RaftNode, member: WireMember): Promise<Configuration> {
  const problem = addressProblem(member)
  if (problem !== undefined) return Promise.reject(problem)
  if (node.status().role !== 'leader') return node.changeMembership({ addLearners: [member] })
  const config = node.configuration
  if (!membersOf(config).includes(member.id)) return node.changeMembership({ addLearners: [member] })
  const known = config.addresses[member.id] ?? ''
  if (known === member.address) return Promise.resolve(config)
  return Promise.reject(new RaftLogError('ERR_BAD_ARGUMENT', `Node ${member.id} is already a member, at ${known === '' ? 'no address' : known}, not ${member.address}: remove it first, or choose another node id`, { id: member.id }))
}

/** A member of a networked cluster needs a host:port its peers and clients can reach. */
function addressProblem(member: WireMember): RaftLogError | undefined {
  if (isHostPort(member.address)) return undefined
  return new RaftLogError('ERR_BAD_ARGUMENT', `Node ${member.id} needs an address host:port (e.g. 127.0.0.1:18004 or [::1]:18004), got ${JSON.stringify(member.address)}`, { id: member.id })
}
