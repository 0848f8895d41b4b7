// What raftlog cluster says of a many-group cluster while it runs: how many groups each node
// holds and leads, whenever that changes (the leader balancer evens the leaders out after start).
import type { ClusterConfig } from '../net/config/cluster-config.js'
import { GroupAdmin } from '../net/client/group-admin.js'
import { hostsOf } from '../kv/sharded/sharded-kv-node.js'
import { hostCredentials } from './host-admin.js'
import type { Logger } from '../observe/logger.js'

const pollMs = 1000

export function watchHostLeaders(cluster: ClusterConfig, logger: Logger): { stop(): void } {
  // With peer_tls, the configuration's client_tls certificate (if any) is the watcher's.
  const admin = new GroupAdmin(hostsOf(cluster), pollMs, hostCredentials(cluster))
  let said = ''
  let asking = false
  const poll = setInterval(() => {
    if (asking) return
    asking = true
    admin
      .hostStatuses()
      .then((statuses) => {
        const up = statuses.filter((status) => status.reachable)
        if (up.length === 0) return
        const line = `leaders: ${up.map((status) => `node ${status.id} leads ${status.leading} of its ${status.groups} groups${status.catalogLeader === true ? ' and the catalog' : ''}`).join(', ')}`
        if (line === said) return
        said = line
        logger.info('leaders', line, { leading: Object.fromEntries(up.map((status) => [status.id, status.leading])) })
      }, () => {})
      .finally(() => (asking = false))
  }, pollMs)
  return {
    stop: () => {
      clearInterval(poll)
      admin.close()
    },
  }
}
