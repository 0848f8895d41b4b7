// The leader balancer: one round every `intervalMs`, run by whichever host leads the catalog group
// (so one balancer per cluster, with no election of its own): it asks every host which groups it
// leads, plans transfers that even the leaders out (host/leader-balance.ts, pure), and asks each
// planned group's leader to hand over. A round that finds a host down or a transfer refused just
// ends: the next one looks again, from what the hosts say then.
import { RaftLogError } from '../../errors.js'
import type { RaftHost } from '../../host/raft-host.js'
import { catalogGroup, type GroupCatalog } from '../../host/group-catalog.js'
import { planLeaderTransfers, type LeaderTransfer } from '../../host/leader-balance.js'
import type { HostClient } from '../client/host-client.js'

/** Default pause between two rounds (ms): a transfer takes about an election's round trip. */
export const defaultBalanceIntervalMs = 2000

export interface LeaderBalancerCounts {
  rounds: number
  transfersAsked: number
}

export class LeaderBalancer {
  readonly counts: LeaderBalancerCounts = { rounds: 0, transfersAsked: 0 }
  private timer: NodeJS.Timeout | undefined
  private running = false

  constructor(
    private readonly host: RaftHost,
    private readonly catalog: GroupCatalog,
    private readonly client: HostClient,
    private readonly intervalMs = defaultBalanceIntervalMs,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.round(), this.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** One round, if this host leads the catalog and no round is still running; resolves with what it asked. */
  async round(): Promise<LeaderTransfer[]> {
    if (this.running || !this.catalog.founded || !this.host.groups.includes(catalogGroup) || this.host.leaderOf(catalogGroup) !== this.host.nodeId) return []
    this.running = true
    try {
      this.counts.rounds++
      const { leaders, answered } = await this.leaders()
      const replicas = new Map(this.catalog.view().groups.map(({ group, replicas }) => [group, replicas]))
      // Only hosts that answered: a host that is down leads nothing, and a transfer to it would
      // only pause its group's writes for an election timeout, round after round.
      const plan = planLeaderTransfers(answered, replicas, leaders)
      this.counts.transfersAsked += plan.length
      await Promise.all(
        plan.map((transfer) =>
          this.ask(transfer).catch((error: unknown) => {
            // The leader moved or went down since it answered: the next round sees the new state.
            if (!(error instanceof RaftLogError)) throw error
          }),
        ),
      )
      return plan
    } finally {
      this.running = false
    }
  }

  /** Which host leads each data group, as the leaders themselves say (a host that does not answer leads nothing here). */
  private async leaders(): Promise<{ leaders: Map<number, number>; answered: number[] }> {
    const leaders = new Map<number, number>()
    // The catalog's hosts: those that joined since the start count as much as the founding ones.
    const hosts = this.catalog.view().hosts
    const answers = await Promise.all(hosts.map((id) => (id === this.host.nodeId ? Promise.resolve(this.localLeaders()) : this.client.leadersAt(id).catch(() => undefined))))
    const answered: number[] = []
    hosts.forEach((id, i) => {
      const answer = answers[i]
      // A host that holds no catalog replica yet (starting, not admitted) takes no leadership.
      if (answer === undefined || !answer.has(catalogGroup)) return
      answered.push(id)
      for (const [group, leader] of answer) if (leader === id && group !== catalogGroup) leaders.set(group, id)
    })
    return { leaders, answered }
  }

  private localLeaders(): Map<number, number> {
    return new Map(this.host.groups.map((group) => [group, this.host.leaderOf(group)]))
  }

  private async ask(transfer: LeaderTransfer): Promise<void> {
    if (transfer.from === this.host.nodeId) await this.host.transferLeadership(transfer.group, transfer.to)
    else await this.client.transferLeaderAt(transfer.from, transfer.group, transfer.to)
  }
}
