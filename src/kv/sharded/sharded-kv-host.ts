// A host of raftlog's key-value store spread over many groups: startHostServer with one
// KvStateMachine per group, its reads (get, scan) answered after a ReadIndex of that group.
import { startHostServer, type HostServer, type HostServerOptions } from '../../net/server/host-server.js'
import { RaftLogError } from '../../errors.js'
import { KvStateMachine } from '../kv-state-machine.js'
import { answerKvQuery } from '../kv-query.js'

export interface ShardedKvHost extends HostServer {
  /** This host's replica of each group's store. */
  stores: Map<number, KvStateMachine>
}

export async function startShardedKvHost(options: Omit<HostServerOptions, 'stateMachine' | 'read'>): Promise<ShardedKvHost> {
  const stores = new Map<number, KvStateMachine>()
  const server = await startHostServer({
    ...options,
    stateMachine: (group) => {
      const store = new KvStateMachine()
      stores.set(group, store)
      return store
    },
    groupRemoved: (group) => {
      stores.delete(group)
      options.groupRemoved?.(group)
    },
    read: (group, query) => {
      const store = stores.get(group)
      if (store === undefined) throw new RaftLogError('ERR_NO_GROUP', `Group ${group} has no replica on this host`)
      return answerKvQuery(store, query)
    },
  })
  return { ...server, stores }
}
