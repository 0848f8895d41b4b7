// Which replicas a host runs, as the group catalog says: every group that lists the host, and no
// other. Asked after catalog entries applied (on the host's next tick, so a restart's replay of the
// catalog is judged on its final state, not on each entry in turn). A group being moved is run on
// its new host as a joining replica (an empty learner until its leader adds it), and on its old
// host only while that host's log of it remains: the group removes the old replica by its own
// membership change, and the replica then frees its log and must never start again.
import type { LogEngine } from '../engine/log-engine.js'
import type { StateMachine } from '../raft/state-machine.js'
import { catalogGroup, type GroupCatalog } from './group-catalog.js'
import type { RaftHost } from './raft-host.js'

/** Starts this host's missing replicas and stops those the catalog no longer lists here; returns the groups stopped. */
export function reconcileReplicas(host: RaftHost, engine: LogEngine, catalog: GroupCatalog, stateMachine: (group: number) => StateMachine): number[] {
  const me = host.nodeId
  const listed = new Set<number>([catalogGroup])
  for (const { group, replicas, moving } of catalog.view().groups) {
    if (!replicas.includes(me)) continue
    listed.add(group)
    // A replica whose snapshot cannot be restored stays down until an operator repairs it.
    if (host.hasGroup(group) || host.failedGroups.has(group)) continue
    if (moving?.to === me) host.joinGroup(group, stateMachine(group))
    else if (moving?.from !== me) host.addGroup(group, replicas, stateMachine(group))
    else if (engine.hasGroup(group)) host.addGroup(group, replicas, stateMachine(group))
  }
  const stopped = host.groups.filter((group) => !listed.has(group))
  for (const group of stopped) host.dropGroup(group)
  return stopped
}
