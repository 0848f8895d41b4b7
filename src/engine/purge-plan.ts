// Which groups a purge rewrites forward, which it asks to compact, and which files it frees
// (raft-engine's purge: groups share files, so one lagging group pins every file after its oldest
// record; rewriting its few live records at the head lets those files go).

/** What the planner needs to know of one group. */
export interface GroupPins {
  id: number
  /** The oldest file it needs (GroupIndex.minFile). */
  minFile: number
  /** Payload bytes of its live entries: what a rewrite would copy. */
  liveBytes: number
}

export interface PurgeLimits {
  /** A group whose oldest needed file is more than this many files behind the active one is rewritten. */
  rewriteLagFiles: number
  /** A lagging group with more live payload bytes than this is asked to compact instead (too costly to copy). */
  rewriteMaxBytes: number
}

export interface PurgePlan {
  rewrite: number[]
  compactRequested: number[]
}

/** Sorts lagging groups into those rewritten and those asked to compact; the active file is `active`. */
export function planPurge(groups: Iterable<GroupPins>, active: number, limits: PurgeLimits): PurgePlan {
  const watermark = active - limits.rewriteLagFiles
  const plan: PurgePlan = { rewrite: [], compactRequested: [] }
  for (const group of groups) {
    if (group.minFile >= watermark) continue
    if (group.liveBytes <= limits.rewriteMaxBytes) plan.rewrite.push(group.id)
    else plan.compactRequested.push(group.id)
  }
  return plan
}

/** The first file still needed: every file before it can go (never the active one). */
export function firstNeededFile(groups: Iterable<GroupPins>, active: number): number {
  let first = active
  for (const group of groups) if (group.minFile < first) first = group.minFile
  return first
}
