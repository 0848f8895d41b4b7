// What the engine crash-test writer (engine-writer.ts) and its checker (engine-crash-model.ts)
// share: the writer's configuration, and the payloads and hard states it writes, which the checker
// recomputes instead of keeping a copy.
import { entryPayload, mixSeed, type SizeRange } from './payload.js'

/** Where the writer kills itself in an inside round. */
export type EngineKillStep = 'after-stage' | 'during-flush' | 'before-acknowledge' | 'during-purge'
export const engineKillSteps: EngineKillStep[] = ['after-stage', 'during-flush', 'before-acknowledge', 'during-purge']

export interface EngineWriterConfig {
  dir: string
  /** Seed of the payloads: fixed for the whole test, since entries outlive rounds. */
  payloadSeed: number
  /** Seed of this round's choices. */
  roundSeed: number
  groups: number
  fileSize: number
  entrySize: SizeRange
  /** The writer kills itself at this turn (inside rounds); 0 never (the parent kills it). */
  killAtTurn: number
  killStep: EngineKillStep
  /** A deliberately wrong writer, to prove the checker catches one: acknowledges an entry it never wrote. */
  broken?: boolean
}

/** The bytes of entry `index` of `group` in `term`: the checker recomputes them. */
export function engineEntryPayload(seed: number, group: number, index: number, term: number, size: SizeRange): Uint8Array {
  return entryPayload(mixSeed(seed, group), index, term, size)
}

/** A group's hard state as the writer sets it: its s-th one. */
export function hardStateNumber(group: number, s: number): { term: number; vote: number; commit: number } {
  return { term: s, vote: group % 7, commit: s }
}
