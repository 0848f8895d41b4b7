import { existsSync, statSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { inspectEngineDirectory, isEngineDirectory } from '../../verify/engine-check.js'
import { groupSnapshotDir } from '../../host/host-snapshots.js'
import { flagRecycled } from '../../storage/segment-format.js'
import { UsageError, type Command } from '../command.js'
import { checkLogDirectory, readStateFile, scanSegment, segmentFiles, type SegmentScan } from '../../verify/log-reader.js'
import { checkSnapshots, type SnapshotsCheck, type SnapshotVerdict } from '../../verify/snapshot-check.js'
import { RaftStateFile, type StateSlot } from '../../storage/raft-state-file.js'
import { plural } from '../plural.js'
import { clusterIdOf } from '../../raft/node/cluster-identity.js'
import { decodeConfiguration, describeConfiguration, type Configuration } from '../../raft/core/configuration.js'

const help = `Usage: raftlog inspect DIR [--json]

Shows a log directory: the state file (term, vote, commit index, last applied, server state and
which of its two slots is current), a table of segments (file, base index, entries, first and
last term, bytes used of size, sealed or open), the last entry's index and term (after a lost
majority, the survivor to recover is the one with the highest last term, then the highest last
index: see raftlog recover --help) and a table of snapshots (file, last included
index, term, size in bytes, and valid or what is wrong, with the byte: each file is read whole
and every checksum checked). Never changes the directory; refuses one that a running node has
locked.

A shared log engine's directory (a many-group node's host_<id>/, or any LogEngine's) is shown
file by file (name, bytes) and group by group: first and last index held, entries, last term,
hard state (term, vote, commit index) and the newest valid snapshot in snapshots/group_<id>/.
Damage is named as raftlog verify names it.

Options:
  --json       print the same as JSON
  -h, --help   show this help

Example:
  raftlog inspect ./raft_logs/node_1`

const serverStates = ['follower', 'candidate', 'leader']

function describeState(slots: StateSlot[] | undefined): string[] {
  if (slots === undefined) return ['state file: none']
  const current = slots.filter((slot) => slot.valid).sort((a, b) => b.sequence - a.sequence)[0]
  if (current?.state === undefined) return [`state file: no valid slot (${slots.map((s) => `slot ${s.slot}: ${s.problem}`).join('; ')})`]
  const { currentTerm, votedFor, commitIndex, lastApplied, serverState, nodeId, clusterId, memberSince, configuration } = current.state
  const committed = committedConfiguration(configuration)
  const cluster = clusterId === undefined || clusterId === '' ? '' : `, cluster ${clusterIdOf(clusterId, committed?.config.clusterToken)}`
  const since = memberSince === undefined || memberSince === 0 ? '' : `, member since index ${memberSince}`
  const identity = nodeId === undefined || nodeId === 0 ? [] : [`  node ${nodeId}${cluster}${since}`]
  const membership = committed === undefined ? [] : [`  committed configuration (index ${committed.index}): ${committed.description}`]
  return [
    `state file: raft_state.meta (slot ${current.slot} current, sequence ${current.sequence}${slots.some((s) => !s.valid && s.problem !== 'no magic') ? `; other slot: ${slots.find((s) => s.slot !== current.slot)?.problem}` : ''})`,
    `  term ${currentTerm}, voted for ${votedFor === 0 ? 'nobody' : votedFor}, commit index ${commitIndex}, last applied ${lastApplied}, ${serverStates[serverState]}`,
    ...identity,
    ...membership,
  ]
}

/** The state file's committed configuration, decoded (undefined: none recorded, or unreadable). */
function committedConfiguration(recorded: { index: number; data: Uint8Array } | undefined): { index: number; config: Configuration; description: string } | undefined {
  if (recorded === undefined) return undefined
  try {
    const config = decodeConfiguration(recorded.data)
    return { index: recorded.index, config, description: describeConfiguration(config) }
  } catch (error) {
    return { index: recorded.index, config: { voters: [], outgoing: [], learners: [], addresses: {} }, description: `unreadable (${(error as Error).message})` }
  }
}

/** Its file held an earlier segment (format version 2, recycled flag). */
function isRecycled(scan: SegmentScan): boolean {
  return ((scan.header?.flags ?? 0) & flagRecycled) !== 0
}

function segmentRow(scan: SegmentScan): string[] {
  const first = scan.frames[0]
  const last = scan.frames.at(-1)
  const status =
    scan.verdict.kind === 'damaged' ? 'damaged header' : scan.verdict.kind === 'never written' ? 'header never written' : `${scan.sealed ? 'sealed' : 'open'}${scan.resetBase ? ', reset base' : ''}${scan.header?.version === 1 ? ', format v1' : ''}${isRecycled(scan) ? ', recycled' : ''}`
  return [
    scan.file,
    String(scan.baseIndex),
    String(scan.frames.length),
    first === undefined ? '-' : String(first.term),
    last === undefined ? '-' : String(last.term),
    `${scan.usedBytes} / ${scan.sizeBytes}`,
    status + (scan.problems.length > 0 ? ` (${plural(scan.problems.length, 'problem')}: run verify)` : ''),
  ]
}

function snapshotRow(snapshot: SnapshotVerdict): string[] {
  const status = snapshot.problem === undefined ? 'valid' : `corrupt at byte ${snapshot.problem.offset}: ${snapshot.problem.problem}`
  return [snapshot.file, String(snapshot.index), snapshot.term === undefined ? '-' : String(snapshot.term), String(snapshot.sizeBytes), status]
}

function describeSnapshots(check: SnapshotsCheck): string[] {
  const lines = check.snapshots.length === 0 ? ['snapshots: none'] : [table([['snapshot', 'index', 'term', 'bytes', 'status'], ...check.snapshots.map(snapshotRow)])]
  for (const file of check.leftovers) lines.push(`leftover: ${file} (an interrupted snapshot ${file.endsWith('.partial') ? 'transfer' : 'write'}; a starting node deletes it)`)
  return lines
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n')
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Show the state file, the segments and the snapshots of a log directory (read-only)',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true })
    const dir = positionals[0]
    if (dir === undefined || positionals.length > 1) throw new UsageError('inspect takes exactly one directory')
    if (existsSync(dir) && statSync(dir).isDirectory() && isEngineDirectory(dir)) return inspectEngine(dir, values.json === true)
    checkLogDirectory(dir)
    const stateBytes = readStateFile(dir)
    const slots = stateBytes === undefined ? undefined : RaftStateFile.inspect(stateBytes)
    const files = segmentFiles(dir)
    const scans = files.map((file) => scanSegment(dir, file))
    const snapshots = await checkSnapshots(dir)
    const lastFrame = [...scans].reverse().find((scan) => scan.frames.length > 0)?.frames.at(-1)
    if (values.json === true) {
      console.log(
        JSON.stringify(
          {
            dir,
            state: slots,
            segments: scans.map((scan) => ({
              file: scan.file,
              baseIndex: scan.baseIndex,
              entries: scan.frames.length,
              firstTerm: scan.frames[0]?.term,
              lastTerm: scan.frames.at(-1)?.term,
              usedBytes: scan.usedBytes,
              sizeBytes: scan.sizeBytes,
              sealed: scan.sealed,
              resetBase: scan.resetBase,
              version: scan.header?.version,
              recycled: isRecycled(scan),
              problems: scan.problems.length,
            })),
            snapshots: snapshots.snapshots.map((snapshot) => ({
              file: snapshot.file,
              index: snapshot.index,
              term: snapshot.term,
              sizeBytes: snapshot.sizeBytes,
              valid: snapshot.valid,
              ...(snapshot.problem === undefined ? {} : { offset: snapshot.problem.offset, problem: snapshot.problem.problem }),
            })),
            snapshotLeftovers: snapshots.leftovers,
            ...(lastFrame === undefined ? {} : { lastEntry: { index: lastFrame.index, term: lastFrame.term } }),
          },
          null,
          2,
        ),
      )
      return 0
    }
    const lines = [`log directory: ${dir}`, ...describeState(slots), '']
    if (scans.length === 0) lines.push('segments: none')
    else lines.push(table([['file', 'base', 'entries', 'first term', 'last term', 'bytes used / size', 'status'], ...scans.map(segmentRow)]))
    const entries = scans.reduce((sum, scan) => sum + scan.frames.length, 0)
    if (scans.length > 0) {
      const last = scans.at(-1)!
      lines.push('', `${plural(scans.length, 'segment')}, ${plural(entries, 'entry', 'entries')}, indexes ${scans[0]!.baseIndex}..${last.baseIndex + last.frames.length - 1}`)
      // What picks the survivor of a lost majority (raftlog recover): the highest last term, then index.
      if (lastFrame !== undefined) lines.push(`last entry: index ${lastFrame.index}, term ${lastFrame.term}`)
    }
    lines.push('', ...describeSnapshots(snapshots))
    console.log(lines.join('\n'))
    return 0
  },
}

/** `raftlog inspect` of a shared log engine's directory: its files, then its groups. */
async function inspectEngine(dir: string, json: boolean): Promise<number> {
  const inspection = inspectEngineDirectory(dir)
  const snapshots = new Map<number, SnapshotVerdict | undefined>()
  for (const { group } of inspection.groupList) {
    const folder = groupSnapshotDir(dir, group)
    if (existsSync(folder)) snapshots.set(group, (await checkSnapshots(folder)).newestValid)
  }
  if (json) {
    const groups = inspection.groupList.map((group) => {
      const snapshot = snapshots.get(group.group)
      return { ...group, ...(snapshot === undefined ? {} : { snapshot: { file: snapshot.file, index: snapshot.index, term: snapshot.term } }) }
    })
    console.log(JSON.stringify({ dir, engine: true, ok: inspection.ok, files: inspection.fileList, groups, problems: inspection.problems, tailBytes: inspection.tailBytes }, null, 2))
    return 0
  }
  const lines = [`engine directory: ${dir}`, '', table([['file', 'bytes'], ...inspection.fileList.map(({ file, sizeBytes }) => [file, String(sizeBytes)])]), '']
  if (inspection.groupList.length === 0) lines.push('groups: none')
  else {
    const rows = inspection.groupList.map((g) => {
      const snapshot = snapshots.get(g.group)
      return [String(g.group), String(g.firstIndex), String(g.lastIndex), String(g.entries), String(g.lastTerm), String(g.term), g.vote === 0 ? '-' : String(g.vote), String(g.commit), snapshot === undefined ? '-' : `${snapshot.index} (term ${snapshot.term})`]
    })
    lines.push(table([['group', 'first', 'last', 'entries', 'last term', 'term', 'vote', 'commit', 'snapshot'], ...rows]))
  }
  lines.push('', `${plural(inspection.files, 'engine file')}, ${plural(inspection.groups, 'group')}, ${plural(inspection.entries, 'entry', 'entries')}`)
  for (const problem of inspection.problems) lines.push(`problem: ${problem.file}: byte ${problem.offset}: ${problem.problem} (run raftlog verify)`)
  if (inspection.tailBytes > 0) lines.push(`torn end: ${inspection.tailBytes} bytes after the last record of ${inspection.tailFile}, which opening cuts`)
  console.log(lines.join('\n'))
  return 0
}
