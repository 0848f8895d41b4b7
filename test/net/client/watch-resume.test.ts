// A watch of a key that stays quiet while the rest of the store moves on, and is compacted past
// the watch's start, resumes after its node fails from where the store got (the progress it asks
// for now and then), not from its start revision: that would be "compacted", and the watch lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { settled, startServers, stopServers, type Servers } from '../../helpers/node-servers.js'
import { KvClient } from '../../../src/kv/kv-client.js'
import type { WatchEvent } from '../../../src/net/client/cluster-client.js'

let servers: Servers

beforeAll(async () => {
  servers = await startServers(false)
})

afterAll(async () => {
  await stopServers(servers)
})

describe('ClusterClient.watch of a quiet key', () => {
  it('resumes past a compaction after its node stops', async () => {
    const { follower } = await settled(servers)
    const address = (server: typeof follower): string => (servers.config.nodes.find((node) => node.nodeId === server.node.id) as { address: string }).address
    // The watch goes to the first endpoint: a follower, so stopping it leaves writes alone.
    const endpoints = [address(follower), ...servers.servers.filter((server) => server !== follower).map(address)]
    const client = new KvClient(endpoints)
    try {
      const seen: WatchEvent[] = []
      let failure: Error | undefined
      const stream = client.watch('quiet')
      const watching = (async () => {
        for await (const batch of stream) seen.push(...batch.events)
      })().catch((error: Error) => (failure = error))
      let revision = 0
      for (let i = 0; i < 5; i++) revision = (await client.txn({ success: [{ put: { key: `busy/${i}`, value: 'x' } }] })).revision
      // Long enough for a progress answer or two to reach the watch.
      await new Promise((resolve) => setTimeout(resolve, 2500))
      await client.compact(revision)
      await follower.stop()
      await client.txn({ success: [{ put: { key: 'quiet', value: 'at last' } }] })
      const deadline = Date.now() + 15_000
      while (seen.length === 0 && failure === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(failure).toBeUndefined()
      expect(seen.map((event) => event.value.toString())).toEqual(['at last'])
      stream.close()
      await watching
    } finally {
      client.close()
    }
  })
})
