// A membership change request, checked against the current configuration, and the two steps
// of joint consensus that carry it out (Raft dissertation §4.3): C_old,new, then C_new.
import { RaftLogError } from '../../errors.js'
import { isJoint, membersOf, removedOf, type Configuration, type Member } from './configuration.js'

/** What to change; any combination, carried out as one joint change. */
export interface MembershipChange {
  /**
   * New members that are to vote: they enter as learners, and the leader makes them voters once
   * they have caught up (within maxPromotionLagEntries of its log and heard from), so a member
   * that never starts never counts.
   */
  addVoters?: Member[]
  /** New members that receive the log but do not vote. */
  addLearners?: Member[]
  /** Learners that become voters. */
  promote?: number[]
  /** Members (voters or learners) that leave. */
  remove?: number[]
  /** Voters that become learners: they keep the log but stop voting and counting. */
  demote?: number[]
  /** Members that now serve at another address (host:port); their votes and log stay. */
  updateAddresses?: Member[]
}

function bad(message: string): RaftLogError {
  return new RaftLogError('ERR_BAD_ARGUMENT', `Membership change: ${message}`)
}

/** The configuration `change` leads to from `current` (not joint); ERR_BAD_ARGUMENT when it makes no sense. */
export function targetConfiguration(current: Configuration, change: MembershipChange): Configuration {
  if (isJoint(current)) throw new RaftLogError('ERR_CHANGE_IN_PROGRESS', 'Membership change: another change is still being carried out; try again once it is done')
  const members = new Set(membersOf(current))
  const voters = new Set(current.voters)
  const learners = new Set(current.learners)
  const toPromote = new Set(current.promoteWhenCaughtUp ?? [])
  const removed = new Set(removedOf(current))
  const addresses = { ...current.addresses }
  const touched = new Set<number>()
  const touch = (id: number): void => {
    if (!Number.isSafeInteger(id) || id < 1 || id > 0xffffffff) throw bad(`node id must be a whole number from 1, got ${String(id)}`)
    if (touched.has(id)) throw bad(`node ${id} is named twice`)
    touched.add(id)
  }
  for (const [list, asVoters] of [[change.addVoters ?? [], true], [change.addLearners ?? [], false]] as const) {
    for (const member of list) {
      touch(member.id)
      if (members.has(member.id)) throw bad(`node ${member.id} is already a member`)
      if (removed.has(member.id)) {
        throw new RaftLogError('ERR_ID_REMOVED', `Membership change: node ${member.id} was removed from this cluster, and ids are never reused (its votes and log belong to its earlier life): give the new member a new id`, { id: member.id })
      }
      if (typeof member.address !== 'string') throw bad(`node ${member.id} needs an address (host:port, or '' without a network)`)
      // Two members at one address: messages for one reach the other, which drops them.
      const holder = Object.entries(addresses).find(([id, address]) => address !== '' && address === member.address && !(change.remove ?? []).includes(Number(id)))
      if (holder !== undefined) throw bad(`node ${member.id}'s address ${member.address} is node ${holder[0]}'s already`)
      learners.add(member.id)
      if (asVoters) toPromote.add(member.id)
      addresses[member.id] = member.address
    }
  }
  for (const id of change.promote ?? []) {
    touch(id)
    if (!learners.has(id)) throw bad(`node ${id} is not a learner${voters.has(id) ? ' (it already votes)' : members.has(id) ? '' : ' (not a member at all: add it first)'}`)
    learners.delete(id)
    toPromote.delete(id)
    voters.add(id)
  }
  for (const id of change.demote ?? []) {
    touch(id)
    if (!voters.has(id)) throw bad(`node ${id} is not a voter${learners.has(id) ? ' (it is a learner already)' : ' (not a member at all)'}`)
    voters.delete(id)
    learners.add(id)
  }
  for (const member of change.updateAddresses ?? []) {
    touch(member.id)
    if (!members.has(member.id)) throw bad(`node ${member.id} is not a member${removed.has(member.id) ? ' (it was removed)' : ''}`)
    if (typeof member.address !== 'string' || member.address === '') throw bad(`node ${member.id} needs its new address (host:port)`)
    if (addresses[member.id] === member.address) throw bad(`node ${member.id} is at ${member.address} already`)
    const holder = Object.entries(addresses).find(([id, address]) => Number(id) !== member.id && address === member.address && !(change.remove ?? []).includes(Number(id)))
    if (holder !== undefined) throw bad(`node ${member.id}'s new address ${member.address} is node ${holder[0]}'s already`)
    addresses[member.id] = member.address
  }
  for (const id of change.remove ?? []) {
    touch(id)
    if (!members.has(id)) throw bad(`node ${id} is not a member`)
    voters.delete(id)
    learners.delete(id)
    toPromote.delete(id)
    removed.add(id)
    delete addresses[id]
  }
  if (touched.size === 0) throw bad('nothing to change')
  if (voters.size === 0) throw bad('it would leave no voter')
  const sorted = (ids: Iterable<number>) => [...ids].sort((a, b) => a - b)
  return { voters: sorted(voters), outgoing: [], learners: sorted(learners), addresses, ...optionalLists(sorted(removed), sorted(toPromote)), ...tokenOf(current) }
}

/** The cluster token a configuration carries on, if it has one. */
function tokenOf(config: Configuration): Pick<Configuration, 'clusterToken'> {
  return config.clusterToken === undefined ? {} : { clusterToken: config.clusterToken }
}

/** The optional lists of a configuration: present only when not empty. */
function optionalLists(removed: readonly number[], promoteWhenCaughtUp: readonly number[]): Pick<Configuration, 'removed' | 'promoteWhenCaughtUp'> {
  return { ...(removed.length > 0 ? { removed: [...removed] } : {}), ...(promoteWhenCaughtUp.length > 0 ? { promoteWhenCaughtUp: [...promoteWhenCaughtUp] } : {}) }
}

/** C_old,new: decisions need a majority of the old voters and of the new. */
export function enterJoint(current: Configuration, target: Configuration): Configuration {
  // Members leaving keep their address until C_new: the old voters still count meanwhile.
  // Ids leaving are removed from C_old,new on: a change cut short never frees them for reuse.
  return { voters: [...target.voters], outgoing: [...current.voters], learners: [...target.learners], addresses: { ...current.addresses, ...target.addresses }, ...optionalLists(removedOf(target), target.promoteWhenCaughtUp ?? []), ...tokenOf(target) }
}

/** C_new, once C_old,new is committed. */
export function leaveJoint(joint: Configuration): Configuration {
  const stays = new Set([...joint.voters, ...joint.learners])
  const addresses: Record<number, string> = {}
  for (const [id, address] of Object.entries(joint.addresses)) if (stays.has(Number(id))) addresses[Number(id)] = address
  return { voters: [...joint.voters], outgoing: [], learners: [...joint.learners], addresses, ...optionalLists(removedOf(joint), joint.promoteWhenCaughtUp ?? []), ...tokenOf(joint) }
}
