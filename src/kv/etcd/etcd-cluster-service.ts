// etcd's Cluster service on raftlog's membership: MemberList from the configuration in the log,
// and MemberAdd, MemberRemove, MemberUpdate and MemberPromote as the membership changes
// `raftlog member add/remove/update/promote` make (joint consensus, one change at a time, the
// same refusals: RaftNode.changeMembership). The leader decides them: a follower passes the call
// on. etcd's server picks a new member's id; raftlog's leader picks the next id no member ever
// had (never a removed one). A member's peer URL is its one address, http(s)://host:port: raftlog
// peers and clients share the node's port.
import * as grpc from '@grpc/grpc-js'
import type { RaftNode } from '../../raft/node/raft-node.js'
import type { ServiceContext } from '../../net/server/node-server.js'
import type { MembershipChange } from '../../raft/core/membership-change.js'
import { membersOf, removedOf, type Configuration } from '../../raft/core/configuration.js'
import { isHostPort } from '../../net/config/host-port.js'
import { RaftLogError } from '../../errors.js'
import { etcdHeader } from './etcd-kv-service.js'
import { etcdError, type EtcdError } from './etcd-errors.js'
import type { LeaderForwarder } from './leader-forwarder.js'

/** etcd's refusals of a membership change (rpctypes), as etcd's server answers them. */
export const memberErrors = {
  notFound: { code: grpc.status.NOT_FOUND, details: 'etcdserver: member not found' },
  peerUrlExists: { code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: Peer URLs already exists' },
  notLearner: { code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: can only promote a learner member' },
  learnerNotReady: { code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: can only promote a learner member which is in sync with leader' },
  notEnoughStarted: { code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: re-configuration failed due to not enough started members' },
  unhealthy: { code: grpc.status.UNAVAILABLE, details: 'etcdserver: unhealthy cluster' },
} satisfies Record<string, EtcdError>

/** Errors after which the leader should be asked instead. */
const notLeaderCodes = new Set(['ERR_NOT_LEADER', 'ERR_LEADERSHIP_TRANSFER', 'ERR_PROPOSAL_DROPPED'])

type Method = 'MemberAdd' | 'MemberRemove' | 'MemberUpdate' | 'MemberPromote'

/** A refusal already in etcd's terms. */
class Refusal extends Error {
  constructor(readonly answer: EtcdError) {
    super(answer.details)
  }
}

interface EtcdMember {
  ID: number
  name: string
  peerURLs: string[]
  clientURLs: string[]
  isLearner: boolean
}

/** The next id no member of `config` has or had: one above every member and every removed id. */
export function nextMemberId(config: Configuration): number {
  return Math.max(0, ...membersOf(config), ...removedOf(config)) + 1
}

/**
 * host:port from an etcd peer URL list: exactly one http(s)://host:port (https when the node
 * serves TLS), nothing after the port but a '/'. A Refusal (INVALID_ARGUMENT, naming the URL) otherwise.
 */
export function addressFromPeerUrls(urls: readonly string[], tls: boolean): string {
  const scheme = tls ? 'https' : 'http'
  const why = `raftlog needs one peer URL, ${scheme}://host:port (a member's peers and clients share its one port)`
  const invalid = (problem: string): Refusal => new Refusal({ code: grpc.status.INVALID_ARGUMENT, details: `etcdserver: given member URLs are invalid: ${problem}; ${why}` })
  if (urls.length !== 1) throw invalid(urls.length === 0 ? 'no peer URL given' : `${urls.length} peer URLs given (${urls.map((url) => JSON.stringify(url)).join(', ')})`)
  const url = urls[0] as string
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#@]*?)\/?$/.exec(url)
  if (match === null) throw invalid(`${JSON.stringify(url)} is not scheme://host:port`)
  if ((match[1] as string).toLowerCase() !== scheme) throw invalid(`${JSON.stringify(url)} is not ${scheme}://: ${tls ? 'this cluster serves TLS' : 'this cluster does not serve TLS'}`)
  const address = match[2] as string
  if (!isHostPort(address)) throw invalid(`${JSON.stringify(url)} has no host:port (a port from 1 to 65535 is needed)`)
  return address
}

/** The Cluster service's implementation. */
export function etcdClusterService(node: RaftNode, context: ServiceContext, forwarder: LeaderForwarder, revision: () => number): grpc.UntypedServiceImplementation {
  const scheme = context.tls ? 'https' : 'http'
  const member = (config: Configuration, id: number, isLearner: boolean): EtcdMember => {
    const address = config.addresses[id] || context.addressOf(id)
    const urls = address === '' ? [] : [`${scheme}://${address}`]
    return { ID: id, name: `node_${id}`, peerURLs: urls, clientURLs: urls, isLearner }
  }
  const members = (config: Configuration): EtcdMember[] => {
    const voters = [...new Set([...config.voters, ...config.outgoing])].sort((a, b) => a - b)
    return [...voters.map((id) => member(config, id, false)), ...[...config.learners].sort((a, b) => a - b).map((id) => member(config, id, true))]
  }
  const header = (): Record<string, unknown> => etcdHeader(node, revision())

  /**
   * Serves `method` on the leader: `change` says what to change in `config` (or throws a Refusal),
   * `answer` what to reply once it is committed. A follower (or a leader that lost its place) passes the call on.
   */
  const serve = (
    method: Method,
    call: grpc.ServerUnaryCall<unknown, unknown>,
    callback: grpc.sendUnaryData<unknown>,
    change: (config: Configuration) => MembershipChange | Configuration,
    answer: (config: Configuration) => Record<string, unknown>,
  ): void => {
    const forward = (cause: unknown): void => forwarder.unary('Cluster', method, call, callback, cause)
    if (node.status().role !== 'leader') {
      const leaderId = node.status().leaderId
      forward(Object.assign(new RaftLogError('ERR_NOT_LEADER', `Node ${node.id} is not the leader`), { leaderId: leaderId === 0 ? undefined : leaderId }))
      return
    }
    let work: Promise<Configuration>
    try {
      const what = change(node.configuration)
      // A Configuration: nothing to change (etcd answers a member update to its own URL so).
      work = 'voters' in what ? Promise.resolve(what) : node.changeMembership(what)
    } catch (error) {
      work = Promise.reject(error as Error)
    }
    work.then(
      (config) => callback(null, { header: header(), ...answer(config) }),
      (error: RaftLogError) => {
        if (error instanceof Refusal) callback(error.answer)
        else if (notLeaderCodes.has(error.code)) forward(error)
        else callback(refusal(method, error))
      },
    )
  }

  const known = (config: Configuration, id: number): void => {
    if (!membersOf(config).includes(id)) throw new Refusal(memberErrors.notFound)
  }
  const addressHolder = (config: Configuration, address: string, except?: number): number | undefined => {
    const found = Object.entries(config.addresses).find(([id, held]) => Number(id) !== except && held === address && membersOf(config).includes(Number(id)))
    return found === undefined ? undefined : Number(found[0])
  }

  return {
    MemberList: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
      callback(null, { header: header(), members: members(node.configuration) })
    },
    MemberAdd: (call: grpc.ServerUnaryCall<{ peerURLs: string[]; isLearner: boolean }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      let address: string
      try {
        address = addressFromPeerUrls(call.request.peerURLs, context.tls)
      } catch (error) {
        callback((error as Refusal).answer)
        return
      }
      const asLearner = call.request.isLearner
      let id = 0
      serve(
        'MemberAdd',
        call,
        callback,
        (config) => {
          if (addressHolder(config, address) !== undefined) throw new Refusal(memberErrors.peerUrlExists)
          id = nextMemberId(config)
          const added = { id, address }
          return asLearner ? { addLearners: [added] } : { addVoters: [added] }
        },
        // The new member as asked (a voter enters as a learner and votes once caught up: the
        // list says where it stands now).
        (config) => ({ member: member(config, id, asLearner), members: members(config) }),
      )
    },
    MemberRemove: (call: grpc.ServerUnaryCall<{ ID: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const id = Number(call.request.ID)
      serve(
        'MemberRemove',
        call,
        callback,
        (config) => {
          known(config, id)
          return { remove: [id] }
        },
        (config) => ({ members: members(config) }),
      )
    },
    MemberUpdate: (call: grpc.ServerUnaryCall<{ ID: number; peerURLs: string[] }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const id = Number(call.request.ID)
      let address: string
      try {
        address = addressFromPeerUrls(call.request.peerURLs, context.tls)
      } catch (error) {
        callback((error as Refusal).answer)
        return
      }
      serve(
        'MemberUpdate',
        call,
        callback,
        (config) => {
          known(config, id)
          if (config.addresses[id] === address) return config
          if (addressHolder(config, address, id) !== undefined) throw new Refusal(memberErrors.peerUrlExists)
          return { updateAddresses: [{ id, address }] }
        },
        (config) => ({ members: members(config) }),
      )
    },
    MemberPromote: (call: grpc.ServerUnaryCall<{ ID: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const id = Number(call.request.ID)
      serve(
        'MemberPromote',
        call,
        callback,
        (config) => {
          known(config, id)
          if (!config.learners.includes(id)) throw new Refusal(memberErrors.notLearner)
          return { promote: [id] }
        },
        (config) => ({ members: members(config) }),
      )
    },
  }
}

/**
 * A refused change in etcd's words where etcd refuses the same (its server maps a removed id to
 * "member not found", an unsafe removal or move to "unhealthy cluster", an unsafe addition or
 * promotion to "not enough started members"); raftlog's code and message otherwise.
 */
export function refusal(method: Method, error: RaftLogError): EtcdError {
  switch (error.code) {
    case 'ERR_UNSAFE_CHANGE':
      return method === 'MemberRemove' || method === 'MemberUpdate' ? memberErrors.unhealthy : memberErrors.notEnoughStarted
    case 'ERR_ID_REMOVED':
      return memberErrors.notFound
    case 'ERR_LEARNER_BEHIND':
      return memberErrors.learnerNotReady
    case 'ERR_BAD_ARGUMENT':
      return { code: grpc.status.INVALID_ARGUMENT, details: `${error.code}: ${error.message}` }
    case 'ERR_CHANGE_IN_PROGRESS':
      return { code: grpc.status.FAILED_PRECONDITION, details: `${error.code}: ${error.message}` }
    default:
      return etcdError(error)
  }
}
