// A host of a many-group cluster as moveReplica (host/move-replica.ts) sees it, reached over the
// network: what it knows of one group is read by refresh() before each step of a move, and the
// changes it is asked for are calls to it. Its replica of the group is never removed from here:
// the host drops it by itself once the group's configuration removed it, and the catalog's
// 'moved' entry stops it on every host in any case.
import { RaftLogError } from '../../errors.js'
import type { Configuration } from '../../raft/core/configuration.js'
import type { MembershipChange } from '../../raft/core/membership-change.js'
import type { ReplicaHost } from '../../host/move-replica.js'
import type { HostClient } from './host-client.js'

export class RemoteReplicaHost implements ReplicaHost {
  private known: { hasGroup: boolean; leaderId: number; configuration: Configuration | undefined } = { hasGroup: false, leaderId: 0, configuration: undefined }

  constructor(
    private readonly client: HostClient,
    readonly id: number,
    private readonly group: number,
  ) {}

  /** Reads what the host knows of the group now; false when it does not answer. */
  async refresh(): Promise<boolean> {
    try {
      this.known = await this.client.groupStateAt(this.id, this.group)
      return true
    } catch (error) {
      if (!(error instanceof RaftLogError)) throw error
      this.known = { hasGroup: false, leaderId: 0, configuration: undefined }
      return false
    }
  }

  hasGroup(group: number): boolean {
    return group === this.group && this.known.hasGroup
  }

  leaderOf(group: number): number {
    return group === this.group ? this.known.leaderId : 0
  }

  configurationOf(group: number): Configuration {
    if (group !== this.group || this.known.configuration === undefined) throw new RaftLogError('ERR_NO_GROUP', `Group ${group} has no replica on host ${this.id}`)
    return this.known.configuration
  }

  changeMembership(group: number, change: MembershipChange): Promise<Configuration> {
    if (change.addVoters !== undefined) return Promise.reject(new RaftLogError('ERR_BAD_ARGUMENT', 'A remote host adds learners, not voters: a moved replica is promoted once it caught up'))
    return this.client.changeMembershipAt(this.id, group, { addLearners: change.addLearners?.map((member) => member.id), promote: change.promote, remove: change.remove })
  }

  transferLeadership(group: number, to?: number): Promise<number> {
    return this.client.transferLeaderAt(this.id, group, to ?? 0)
  }

  removeReplica(): Promise<void> {
    return Promise.resolve()
  }
}
