// One round of `crash-test --mode snapshot`: a writer process runs a one-node RaftNode and kills
// itself inside the snapshot path (writing the file, renaming it, compacting the log behind it,
// pruning old files); then `verify` must find the directory as the crash left it clean, a node
// restarted on it must hold every acknowledged proposal exactly once (snapshot-model.ts), and
// `verify` must be clean again after that node stopped.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MemoryNetwork } from '../memory-network.js'
import { RaftNode } from '../../raft/node/raft-node.js'
import { verifyDirectory, type VerifyResult } from '../../verify/verify-directory.js'
import { Ledger } from './ledger.js'
import type { Violation } from './model.js'
import { mixSeed, type SizeRange } from './payload.js'
import { snapshotKillPoints, type SnapshotKillPlan, type SnapshotKillPoint, type SnapshotKillStep } from './snapshot-failpoints.js'
import type { SnapshotModel } from './snapshot-model.js'
import { ledgerNodeOptions, type SnapshotWriterConfig } from './snapshot-writer-config.js'
import { runWriterProcess } from './writer-process.js'

export interface SnapshotRoundOptions {
  dir: string
  seed: number
  entrySize: SizeRange
  segmentSize: number
  brokenWriter: boolean
}

export interface SnapshotRound {
  plan: SnapshotKillPlan
  /** The writer died at its kill point (not at its fallback after maxProposals). */
  reached: boolean
  /** Where the writer said it died: `<step> <call>` at its point, or why it reached none. */
  killedAt: string | undefined
  acknowledged: number
  /** Proposals in the restored state. */
  restored: number
  violations: Violation[]
}

/** Small, so that each round takes several snapshots and compacts several segments. */
const snapshotThreshold = 32
/**
 * Entries kept behind a snapshot, chosen per round: none, some, and more than a threshold (the
 * first snapshots then compact nothing).
 */
const trailingChoices = [0, 8, 24, 40]
/**
 * The call of its point a round's writer dies at is chosen up to these: a snapshot file takes
 * six calls (header, metadata checksum, chunk header, chunk, end record, sync), one rename, and
 * a compaction a few segment deletions; prune deletes one file per snapshot after the second.
 */
const maxCountdown: Record<SnapshotKillPoint, number> = { 'snapshot-write': 12, 'snapshot-rename': 2, 'log-compaction': 4, 'snapshot-prune': 2 }
const maxProposalsBeside = 3
/** Far more than any kill point needs: a writer that gets there reached none (reported). */
const maxProposals = 400
const writerTimeoutMs = 20_000
const restartTimeoutMs = 10_000

// Like the other writer: always run compiled, from dist.
const writerPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dist', 'testing', 'crash', 'snapshot-writer.js')

export function planSnapshotRound(round: number, random: () => number): { plan: SnapshotKillPlan; trailing: number } {
  // Every point in turn, so any run of four rounds kills inside each of them.
  const point = snapshotKillPoints[(round - 1) % snapshotKillPoints.length] as SnapshotKillPoint
  const steps: SnapshotKillStep[] = point === 'snapshot-write' ? ['before', 'after', 'torn'] : ['before', 'after']
  const countdown = 1 + Math.floor(random() * maxCountdown[point])
  const step = steps[Math.floor(random() * steps.length)] as SnapshotKillStep
  const trailing = trailingChoices[Math.floor(random() * trailingChoices.length)] as number
  return { plan: { point, countdown, step }, trailing }
}

export async function runSnapshotRound(options: SnapshotRoundOptions, model: SnapshotModel, round: number, random: () => number): Promise<SnapshotRound> {
  const { plan, trailing } = planSnapshotRound(round, random)
  const config: SnapshotWriterConfig = {
    dir: options.dir,
    round,
    payloadSeed: options.seed,
    roundSeed: mixSeed(options.seed, round, 1),
    segmentSize: options.segmentSize,
    entrySize: options.entrySize,
    snapshotThreshold,
    snapshotTrailingEntries: trailing,
    kill: plan,
    maxProposalsBeside,
    maxProposals,
    broken: options.brokenWriter,
  }
  const acknowledgedBefore = model.acknowledgedCount
  model.startRound()
  const violations: Violation[] = []
  const writerProblem = await runWriterProcess(writerPath, config, (line) => model.observe(line), writerTimeoutMs)
  if (writerProblem !== undefined) violations.push({ round, problem: writerProblem })
  violations.push(...verified(await verifyDirectory(options.dir), round, 'as the crash left it'))
  const restored = await restartAndCheck(config, model, round, violations)
  violations.push(...verified(await verifyDirectory(options.dir), round, 'after the restarted node stopped'))
  const said = model.killedAt
  const reached = said?.startsWith(`${plan.point} `) === true
  return {
    plan,
    reached,
    killedAt: said === undefined ? undefined : reached ? said.slice(plan.point.length + 1) : said.replace(/^none - /, ''),
    acknowledged: model.acknowledgedCount - acknowledgedBefore,
    restored,
    violations,
  }
}

/** `verify` must say ok: no problem, no warning (leftover temporary files are information). */
function verified(result: VerifyResult, round: number, when: string): Violation[] {
  return [...result.problems, ...result.warnings].map((problem) => ({
    round,
    ...(problem.index === undefined ? {} : { index: problem.index }),
    problem: `verify ${when}: ${problem.file}: byte ${problem.offset}: ${problem.problem}`,
  }))
}

/** Restarts the node as the writer ran it, waits until it has applied everything, and checks the state; returns its size. */
async function restartAndCheck(config: SnapshotWriterConfig, model: SnapshotModel, round: number, violations: Violation[]): Promise<number> {
  const ledger = new Ledger()
  const network = new MemoryNetwork({ seed: config.roundSeed })
  const warnings: string[] = []
  let node: RaftNode
  try {
    node = await RaftNode.start({ ...ledgerNodeOptions(config), stateMachine: ledger, transport: network.endpoint(1), seed: mixSeed(config.roundSeed, 2), logger: { warn: (message) => warnings.push(message) } })
  } catch (error) {
    violations.push({ round, problem: `the node could not be restarted: ${(error as Error).message}` })
    network.close()
    return 0
  }
  try {
    if (await caughtUp(node, restartTimeoutMs)) violations.push(...model.check(ledger, node.status(), round))
    else violations.push({ round, problem: `the restarted node did not lead and apply its whole log within ${restartTimeoutMs} ms: ${JSON.stringify(node.status())}` })
  } finally {
    await node.stop()
    network.close()
  }
  // A snapshot skipped or failed on the way is a problem even when the state came out right.
  for (const warning of warnings.filter((message) => /snapshot/i.test(message))) violations.push({ round, problem: `the restarted node warned: ${warning}` })
  return ledger.lines.size
}

/** Leader of its one-node cluster, with its no-op committed, everything in its log applied and every snapshot due taken. */
async function caughtUp(node: RaftNode, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const status = node.status()
    // Every snapshot due taken too (and the log compacted behind it): stopping the node in the
    // middle of one would leave the next round a log that depends on timing, not on the seed.
    const snapshotsTaken = status.lastApplied - status.snapshotIndex < snapshotThreshold
    if (status.role === 'leader' && status.commitIndex === status.lastIndex && status.lastApplied === status.commitIndex && snapshotsTaken) return true
    if (node.failed !== undefined || Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}
