import { existsSync, statSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import type { Change, Repair } from '../../verify/log-repair.js'
import { repairDirectory } from '../../verify/repair-directory.js'
import { isEngineDirectory } from '../../verify/engine-check.js'
import { repairEngineDirectory, type EngineGroupRepair, type EngineRepairPlan } from '../../verify/engine-repair.js'
import type { StatePastLog } from '../../verify/state-fit.js'
import { stateFileName } from '../../storage/raft-state-file.js'
import { plural } from '../plural.js'

const help = `Usage: raftlog repair DIR [--dry-run]

Cuts a damaged log at its first problem, the one \`raftlog verify DIR\` lists first: every entry
before it stays, every entry from it on is dropped (later segments deleted, the rest of the
damaged segment zeroed), and the log opens again. This is the only way raftlog drops data that
may have been acknowledged, so it is never done for you: opening a damaged log fails with
ERR_CORRUPT instead. A node whose log was cut catches up from its leader.

Before it changes anything it copies every file it will change into a new folder beside DIR,
named DIR.repair-<time>, and prints its path. It prints exactly what it cut: the file and byte,
the first index lost, and the frames and bytes of each file it cut or deleted. A damaged offset
table over valid frames loses nothing: the segment is opened again and resealed.

When the state file's commit index (or last applied) then points past the last entry the
directory holds (its log's or its newest snapshot's), repair brings both down to it (backed up
too), and says so: the node gets the entries it lost back from its leader. Otherwise it does
not change raft_state.meta. It refuses a directory a running node holds.

A shared log engine's directory (engine_*.log files, a many-group node's host_<id> folder) is cut
the same way: every frame before the problem stays, the rest of its file is zeroed and later files
are deleted, so each group keeps its entries up to there. The terms and votes in the frames after
the problem are not lost: repair reads every valid frame after it and writes each group's newest
term and vote (a replica must never vote twice in a term) in a frame after the last one kept,
before it cuts anything, lowering a commit index past a group's last entry kept. Stopped part
way, it is run again. It prints, per group, the entries it loses and the hard state it keeps.

Options:
  --dry-run    say what it would cut, change nothing, make no backup
  -h, --help   show this help

Exit status: 0 when the log was repaired (or had nothing to repair) and verifies clean, 1 when a
problem is left (the state file's, or one it could not cut), 2 on bad usage.

Example:
  raftlog repair ./raft_logs/node_1 --dry-run`

function describeChange(change: Change, dryRun: boolean): string {
  const verb = (done: string, would: string): string => (dryRun ? `would ${would}` : done)
  switch (change.kind) {
    case 'delete':
      return `${verb('deleted', 'delete')} ${change.file}: ${plural(change.frames, 'frame')}, ${plural(change.bytes, 'byte')}`
    case 'replace':
      return `${verb('replaced', 'replace')} ${change.file} by an empty segment at index ${change.baseIndex} (the term before it is unknown: 0): ${plural(change.frames, 'frame')}, ${plural(change.bytes, 'byte')}`
    case 'cut':
      return `${verb('cut', 'cut')} ${change.file} at byte ${change.offset}: ${plural(change.frames, 'frame')}, ${plural(change.bytes, 'byte')}${change.reopen ? ' (its header opened again)' : ''}`
  }
}

function describeStateFix(fit: StatePastLog, dryRun: boolean): string {
  // Only what is past the end is lowered (a last applied at or below it stays as it is).
  const lowered = [fit.commitIndex > fit.end ? `commit index from ${fit.commitIndex}` : '', fit.lastApplied > fit.end ? `last applied from ${fit.lastApplied}` : ''].filter((part) => part !== '')
  return `${dryRun ? 'would lower' : 'lowered'} ${stateFileName}'s ${lowered.join(' and ')} to ${fit.end}, the last entry kept: the node gets the entries after it back from its leader`
}

function describeRepair(repair: Repair, dryRun: boolean): string[] {
  const { file, offset, index, problem } = repair.problem
  return [
    `first problem: ${file}: byte ${offset}${index === undefined ? '' : ` (index ${index})`}: ${problem}`,
    repair.firstLostIndex === undefined
      ? `no entry is lost: every frame is valid`
      : `the log ${dryRun ? 'would keep' : 'keeps'} the entries before index ${repair.firstLostIndex}; from ${repair.firstLostIndex} on they are dropped`,
    ...repair.changes.map((change) => describeChange(change, dryRun)),
  ]
}

function describeGroup(group: EngineGroupRepair, dryRun: boolean): string {
  const parts: string[] = []
  if (group.lastIndex === undefined) parts.push(`created after the problem: ${dryRun ? 'would come' : 'comes'} back empty`)
  else parts.push(`keeps entries up to ${group.lastIndex}`)
  if (group.lostUpTo !== undefined) parts.push(`loses entries up to ${group.lostUpTo} at least`)
  if (group.hardState !== undefined) parts.push(`keeps term ${group.hardState.term} and vote ${group.hardState.vote || 'none'} from a frame after the problem`)
  if (group.commit !== undefined) parts.push(`commit index ${dryRun ? 'would be lowered' : 'lowered'} from ${group.commit.from} to ${group.commit.to}`)
  return `group ${group.group}: ${parts.join('; ')}`
}

function describeEnginePlan(plan: EngineRepairPlan, dryRun: boolean): string[] {
  const { file, offset, problem } = plan.problem
  return [
    `first problem: ${file}: byte ${offset}: ${problem}`,
    plan.cut.fresh === undefined
      ? `${dryRun ? 'would cut' : 'cut'} ${plan.cut.file} at byte ${plan.cut.offset}: the frames before it stay, the rest is zeroed`
      : `${dryRun ? 'would replace' : 'replaced'} ${plan.cut.file} by a new file that holds only the groups' hard states`,
    ...plan.deleted.map((deleted) => `${dryRun ? 'would delete' : 'deleted'} ${deleted}`),
    ...plan.groups.map((group) => describeGroup(group, dryRun)),
  ]
}

async function repairEngine(dir: string, dryRun: boolean): Promise<number> {
  const { plan, backup, after, left, resumed } = await repairEngineDirectory(dir, { dryRun })
  const lines = plan === undefined ? [left.length === 0 ? 'nothing to repair: the engine directory has no problem' : 'no engine file has a problem'] : describeEnginePlan(plan, dryRun)
  if (backup !== undefined) lines.splice(1, 0, `backup of the files it changes: ${backup}`)
  if (resumed !== undefined) lines.unshift(resumed)
  for (const problem of left) lines.push(`still a problem: ${problem.file}: byte ${problem.offset}: ${problem.problem}${/^snapshots\//.test(problem.file) ? ' (repair cuts engine files only: delete the snapshot file; the replica gets a newer one from its leader)' : ''}`)
  if (after !== undefined && after.problems.length === 0 && plan !== undefined) lines.push(`the engine directory verifies clean: ${plural(after.groups, 'group')}, ${plural(after.entries, 'entry', 'entries')}`)
  console.log(lines.join('\n'))
  return left.length === 0 ? 0 : 1
}

export const repairCommand: Command = {
  name: 'repair',
  summary: 'Cut a damaged log at its first problem, after backing up what it changes',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { 'dry-run': { type: 'boolean' } }, allowPositionals: true, strict: true })
    const dir = positionals[0]
    if (dir === undefined || positionals.length > 1) throw new UsageError('repair takes exactly one directory')
    const dryRun = values['dry-run'] === true
    if (existsSync(dir) && statSync(dir).isDirectory() && isEngineDirectory(dir)) return repairEngine(dir, dryRun)
    const { repair, stateFit, backup, after, left } = await repairDirectory(dir, { dryRun })
    const lines: string[] = []
    if (repair === undefined) lines.push(stateFit === undefined ? 'nothing to repair: no segment has a problem' : 'no segment has a problem')
    else lines.push(...describeRepair(repair, dryRun))
    if (stateFit !== undefined) lines.push(describeStateFix(stateFit, dryRun))
    if (backup !== undefined) lines.splice(repair === undefined ? 0 : 2, 0, `backup of the files it changes: ${backup}`)
    for (const problem of left) lines.push(`still a problem: ${problem.file}: byte ${problem.offset}: ${problem.problem}`)
    if (after !== undefined && after.problems.length === 0) {
      lines.push(`the log verifies clean: ${after.entries === 0 ? 'empty' : `entries ${after.firstIndex}..${after.lastIndex}`}`)
    }
    console.log(lines.join('\n'))
    return left.length === 0 ? 0 : 1
  },
}
