// The catalog group's own members follow the catalog's hosts: a host that joined the cluster (a
// catalog 'join' entry) is added to the catalog group by the catalog's leader as a learner. It gets
// the catalog's log, so it starts and stops its replicas as every host does, but it never votes
// or counts: the catalog's voters stay the founding hosts (CockroachDB keeps its meta ranges on a
// few replicas for the same reason). So a joined host that dies, or asked to join and never ran,
// never costs the catalog its majority, however many hosts join. One change at a time; a change
// cut short (a lost leader) is made again by the next leader.
import { RaftLogError } from '../errors.js'
import { isJoint, membersOf } from '../raft/core/configuration.js'
import { catalogGroup, type GroupCatalog } from './group-catalog.js'
import type { RaftHost } from './raft-host.js'

/** Answers after which the next look simply tries again. */
const passing = new Set(['ERR_NOT_LEADER', 'ERR_LEADERSHIP_LOST', 'ERR_CHANGE_IN_PROGRESS', 'ERR_UNSAFE_CHANGE', 'ERR_STOPPED', 'ERR_NO_GROUP'])

/**
 * When this host leads the catalog group: adds the first catalog host that is not yet one of its
 * members, as a learner; resolves with that host's id, or undefined when there was nothing to do.
 * Other refusals reject (ERR_ID_REMOVED: a host id once removed never rejoins).
 */
export async function admitJoinedHost(host: RaftHost, catalog: GroupCatalog): Promise<number | undefined> {
  if (!catalog.founded || !host.hasGroup(catalogGroup) || host.leaderOf(catalogGroup) !== host.nodeId) return undefined
  const configuration = host.configurationOf(catalogGroup)
  if (isJoint(configuration)) return undefined
  const members = membersOf(configuration)
  const newcomer = catalog.view().hosts.find((id) => !members.includes(id))
  if (newcomer === undefined) return undefined
  try {
    await host.changeMembership(catalogGroup, { addLearners: [{ id: newcomer, address: '' }] })
  } catch (error) {
    if (error instanceof RaftLogError && passing.has(error.code)) return undefined
    throw error
  }
  return newcomer
}
