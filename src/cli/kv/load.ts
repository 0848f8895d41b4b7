// `kv load`: every pair through one client (one session), in batches (one entry of many puts,
// applied together) with many batches in flight, so 20,000 keys cost a few hundred proposals
// rather than 20,000 round trips. Stops sending at the first failure and waits for the batches
// already sent.
import type { ClusterClient } from '../../net/client/cluster-client.js'
import { encodeKvCommand } from '../../kv/kv-state-machine.js'
import type { RaftLogError } from '../../errors.js'
import type { LoadPair } from './load-file.js'

/** Puts per batch at most. */
export const maxPutsPerBatch = 256
/** Key and value bytes per batch at most (one larger pair goes alone): small next to a segment and to one AppendEntries. */
export const maxBatchBytes = 256 * 1024
/** Batches in flight by default. */
export const defaultInFlight = 16
/** At most: below the answers a client session may leave unacknowledged (1,024). */
export const maxInFlight = 512

export interface LoadOutcome {
  written: number
  /** The first batch that failed, and why; batches after it were not sent. */
  failure?: { batch: LoadPair[]; error: RaftLogError }
}

/** The pairs cut into batches, in order. */
export function batchesOf(pairs: LoadPair[]): LoadPair[][] {
  const batches: LoadPair[][] = []
  let batch: LoadPair[] = []
  let bytes = 0
  for (const pair of pairs) {
    const size = pair.key.length + pair.value.length
    if (batch.length === maxPutsPerBatch || (batch.length > 0 && bytes + size > maxBatchBytes)) {
      batches.push(batch)
      batch = []
      bytes = 0
    }
    batch.push(pair)
    bytes += size
  }
  if (batch.length > 0) batches.push(batch)
  return batches
}

export async function loadPairs(client: ClusterClient, pairs: LoadPair[], options: { inFlight: number; timeoutMs: number; onProgress: (written: number) => void }): Promise<LoadOutcome> {
  const batches = batchesOf(pairs)
  let next = 0
  let written = 0
  let failure: LoadOutcome['failure']
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < batches.length) {
      const batch = batches[next++] as LoadPair[]
      try {
        await client.propose(encodeKvCommand({ op: 'batch', puts: batch.map(({ key, value }) => ({ key, value })) }), options.timeoutMs)
        written += batch.length
        options.onProgress(written)
      } catch (error) {
        failure ??= { batch, error: error as RaftLogError }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.inFlight, batches.length) }, worker))
  return failure === undefined ? { written } : { written, failure }
}
