// What the parent tells the crash test's snapshot writer (snapshot-writer.ts), and the node
// options the writer and the parent's restart share: the restart must run the node as it ran.
import type { SizeRange } from './payload.js'
import type { SnapshotKillPlan } from './snapshot-failpoints.js'

export interface SnapshotWriterConfig {
  dir: string
  round: number
  /** Seed of the payloads (fixed for the whole test) and of this round's choices. */
  payloadSeed: number
  roundSeed: number
  segmentSize: number
  entrySize: SizeRange
  snapshotThreshold: number
  snapshotTrailingEntries: number
  kill: SnapshotKillPlan
  /** Proposals beside one snapshot: from 0 to this many, seeded. */
  maxProposalsBeside: number
  /** Should the kill point not be reached by then, the writer dies after this many proposals. */
  maxProposals: number
  /** A deliberately wrong writer, to prove the checker catches one: acknowledges a proposal it never made. */
  broken?: boolean
}

/** The node options the writer and the checker's restart share. */
export function ledgerNodeOptions(config: Pick<SnapshotWriterConfig, 'dir' | 'segmentSize' | 'snapshotThreshold' | 'snapshotTrailingEntries'>) {
  return {
    id: 1,
    peers: [1],
    dir: config.dir,
    electionTimeout: [30, 60] as [number, number],
    heartbeatInterval: 10,
    segmentSize: config.segmentSize,
    snapshotThreshold: config.snapshotThreshold,
    snapshotTrailingEntries: config.snapshotTrailingEntries,
  }
}

