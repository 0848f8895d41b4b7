import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import type { Problem } from '../../verify/log-reader.js'
import type { StateCheck } from '../../verify/state-check.js'
import { verifyDirectory, type VerifyResult } from '../../verify/verify-directory.js'
import { isEngineDirectory } from '../../verify/engine-check.js'
import { verifyEngineWithSnapshots, type EngineVerifyWithSnapshots } from '../../verify/engine-snapshot-check.js'
import { existsSync, statSync } from 'node:fs'
import { plural } from '../plural.js'

const help = `Usage: raftlog verify DIR [--json]

Reads every frame of every segment in DIR and checks header checksums, frame checksums, that each
frame holds index base + position, sealed segments' offset tables, that segments follow each
other without gaps, previous terms, and that terms never go back; both slots of the state file
raft_state.meta; and every snapshot file (snapshot_<index>.snap) whole: its header, every chunk
checksum and the end record. Never changes the directory; refuses one that a running node has
locked.

It judges the segments by the same rule as recovery, so it reports exactly what opening the log
would refuse (any damage: a problem) and what it would cut. After a crash, recovery cuts what
never reached the disk (zeros, a torn write in the open segment), what a killed process left half
written (a frame without its checksum at the end of the open segment, a seal or a new segment's
header cut short) and removes segments made after the last flush: these are reported as
information, not as problems.

A damaged state-file slot beside a valid one is a warning (a save cut short by a crash leaves
one; the other slot holds the state); no valid slot in a file holding data is a problem. A
commit index (or last applied) past the last entry the directory holds, in its log or newest
snapshot, is a warning: the node no longer holds entries it knew were committed (a repair that
cut the log leaves it, and sets it right; a power loss can leave it too).

Snapshots: a corrupt or torn snapshot file is a problem naming the file and byte. The log and
the snapshots must fit together as a starting node needs: it restores the newest valid snapshot
and replays the log after it, so the log must start at most one index after that snapshot (or
at 1 when there is none); a log that starts later is a problem naming the files. Leftovers of
an interrupted snapshot write or transfer (*.snap.tmp, *.snap.partial) are information: a
starting node deletes them.

A shared log engine's directory (engine_*.log files, LogEngine) is checked by the engine's own
rule: every file's header and batch frames (each record's checksum and the batch's), batch
sequences across files, files without gaps, and every group replayed to the end; a torn write at
the end of the last file is what opening would cut. Each group's snapshots (snapshots/group_<id>/)
are checked as a node's are, and each group's log must start at most one index after its newest
valid snapshot; a folder of a group the engine no longer holds is information (a host starting
that group deletes it).

Options:
  --json       print the result as JSON
  -h, --help   show this help

Exit status: 0 when no problem was found (warnings allowed; "ok" is printed only when there is
neither), 1 when a problem was found (or DIR cannot be read), 2 on bad usage.
Run \`raftlog repair DIR\` to cut the log at its first problem.

Example:
  raftlog verify ./raft_logs/node_1`

function describeProblem(p: Problem): string {
  return `${p.file}: byte ${p.offset}${p.index === undefined ? '' : ` (index ${p.index})`}: ${p.problem}`
}

function describeRecovery(result: VerifyResult): string[] {
  const { cuts, removals, fresh } = result.recovery
  return [
    ...cuts.map((cut) => `recovery would cut ${plural(cut.bytes, 'byte')} (${plural(cut.frames, 'checksummed frame')}) of ${cut.file} from byte ${cut.offset} (index ${cut.index}): ${cut.why}`),
    ...removals.map((removal) =>
      `recovery would remove ${removal.file}: ${removal.reason === 'below reset' ? 'left over from an interrupted reset' : 'made after the last flush, nothing in it acknowledged'}`,
    ),
    ...(fresh === undefined ? [] : [`recovery would start ${fresh} afresh: its header never reached the disk`]),
  ]
}

function describeSnapshotFiles(result: VerifyResult): string[] {
  const { leftovers, note } = result.snapshots
  return [
    ...leftovers.map((file) => `${file}: left by a snapshot ${file.endsWith('.partial') ? 'transfer' : 'write'} that stopped; a starting node deletes it`),
    ...(note === undefined ? [] : [note]),
  ]
}

/** The snapshots in brief: how many, and the one a starting node restores. */
function describeSnapshots(result: VerifyResult): string {
  const { files, newestValid } = result.snapshots
  if (files.length === 0) return ''
  const newest = files.find((file) => file.file === newestValid)
  const count = plural(files.length, 'snapshot')
  return `; ${count}, ${newest === undefined ? 'none valid' : `newest valid ${newest.file} (index ${newest.index}, term ${newest.term})`}`
}

function describeState(state: StateCheck): string {
  if (!state.present) return 'no state file'
  if (state.current === undefined) return state.problems.length === 0 ? 'state file never saved' : 'state file has no valid slot'
  const { slot, sequence, state: current } = state.current
  return `state file slot ${slot} current (sequence ${sequence}, term ${current.currentTerm})`
}

/** The last line: ok, or how many problems and warnings, then the log and the state file in brief. */
function summary(result: VerifyResult): string {
  const range = result.entries === 0 ? 'empty' : `${result.firstIndex}..${result.lastIndex}`
  const tail = result.tailBytes > 0 ? `; ${plural(result.tailBytes, 'byte')} after the last entry would be cut by recovery` : ''
  const state = `${describeSnapshots(result)}; ${describeState(result.state)}`
  if (result.problems.length > 0) return `${plural(result.problems.length, 'problem')} in ${plural(result.segments, 'segment')}, ${plural(result.entries, 'readable entry', 'readable entries')}${tail}${state}`
  const log = `${plural(result.segments, 'segment')}, ${plural(result.entries, 'entry', 'entries')} (${range})${tail}${state}`
  return result.warnings.length > 0 ? `no problem, ${plural(result.warnings.length, 'warning')}: ${log}` : `ok: ${log}`
}

/** The engine directory's report: its problems, what opening would cut, its snapshots, and a summary line. */
function engineLines(result: EngineVerifyWithSnapshots): string[] {
  const groups = `${plural(result.files, 'engine file')}, ${plural(result.groups, 'group')}, ${plural(result.entries, 'entry', 'entries')}`
  const folders = result.snapshotFolders
  const files = folders.reduce((sum, folder) => sum + folder.check.snapshots.length, 0)
  const snapshots = folders.length === 0 ? '' : `; snapshots: ${plural(files, 'file')} in ${plural(folders.length, 'group folder')}`
  return [
    ...result.problems.map(describeProblem),
    ...(result.tailFile === undefined ? [] : [`recovery would cut ${plural(result.tailBytes, 'byte')} of a torn write at the end of ${result.tailFile}`]),
    ...folders.flatMap((folder) => folder.check.leftovers.map((file) => `${folder.folder}/${file}: left by a snapshot ${file.endsWith('.partial') ? 'transfer' : 'write'} that stopped; a starting host deletes it`)),
    ...folders.filter((folder) => folder.orphan).map((folder) => `${folder.folder}: the engine holds no group ${folder.group}; a host starting that group deletes the folder`),
    result.ok ? `ok: ${groups}${snapshots}` : `${plural(result.problems.length, 'problem')}: ${groups}${snapshots}`,
  ]
}

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'Check every frame, checksum and segment of a log directory, its state file and snapshots (read-only)',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true })
    const dir = positionals[0]
    if (dir === undefined || positionals.length > 1) throw new UsageError('verify takes exactly one directory')
    if (existsSync(dir) && statSync(dir).isDirectory() && isEngineDirectory(dir)) {
      const engine = await verifyEngineWithSnapshots(dir)
      console.log(values.json === true ? JSON.stringify(engine, null, 2) : engineLines(engine).join('\n'))
      return engine.ok ? 0 : 1
    }
    const progress = process.stderr.isTTY === true && values.json !== true
    const result = await verifyDirectory(dir, (done, total) => {
      if (progress) process.stderr.write(`\rverifying segment ${done}/${total}${done === total ? '\n' : ''}`)
    })
    if (values.json === true) {
      console.log(JSON.stringify(result, null, 2))
    } else {
      const lines = [
        ...result.problems.map(describeProblem),
        ...result.warnings.map((warning) => `warning: ${describeProblem(warning)}`),
        ...describeRecovery(result),
        ...describeSnapshotFiles(result),
        summary(result),
      ]
      console.log(lines.join('\n'))
    }
    return result.problems.length === 0 ? 0 : 1
  },
}
