// `kv scan`: keys with a prefix, in key order, page after page. Each page is one linearizable
// read (any node, after a ReadIndex); a scan of several pages is not one snapshot: a key written
// meanwhile shows up if it sorts after the page being read.
import type { ClusterClient } from '../../net/client/cluster-client.js'
import { decodeKvScanResult, encodeKvQuery, maxScanKeys } from '../../kv/kv-query.js'

/** Keys asked for per read: as many as a node gives (it also stops at maxScanBytes). */
export const scanPageKeys = maxScanKeys

/** Calls `onPair` for each key starting with `prefix`, in byte order, at most `limit`; resolves with the count. */
export async function scanPairs(client: ClusterClient, prefix: Uint8Array, limit: number, timeoutMs: number, onPair: (key: Buffer, value: Buffer) => void): Promise<number> {
  let after: Buffer | undefined
  let count = 0
  while (count < limit) {
    const query = encodeKvQuery({ op: 'scan', prefix, limit: Math.min(scanPageKeys, limit - count), ...(after === undefined ? {} : { after }) })
    const page = decodeKvScanResult(await client.read(query, timeoutMs))
    for (const [key, value] of page.pairs) onPair(key, value)
    count += page.pairs.length
    const last = page.pairs.at(-1)
    if (!page.more || last === undefined) break
    after = last[0]
  }
  return count
}
