// `raftlog repair` on real damaged directories: it backs up what it changes, cuts at the first
// problem, says exactly what it cut, and leaves a log that verifies clean and opens.
import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { RaftLog, RaftStateFile } from '../../src/index.js'
import { frameSizeBytes, headerSizeBytes, segmentFileName } from '../../src/storage/segment-format.js'
import { runCli } from '../helpers/cli.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const segmentSize = 16384

/** 300 entries of 200 B over 16 KiB segments (69 per segment, the last one open), flushed. */
async function makeLog(count = 300): Promise<string> {
  const dir = join(tempDir(), 'node_1')
  const log = RaftLog.open(dir, { segmentSize, logger: silentLogger })
  log.append(Array.from({ length: count }, (_, i) => ({ term: 1 + (i >> 7), data: payloadFor(i + 1, 1 + (i >> 7), 200) })))
  await log.flush()
  log.close()
  return dir
}

function segments(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('segment_')).sort()
}

function hashes(dir: string, names: string[]): string[] {
  return names.map((name) => createHash('sha256').update(readFileSync(join(dir, name))).digest('hex'))
}

function edit(path: string, change: (bytes: Buffer) => void): void {
  const bytes = readFileSync(path)
  change(bytes)
  writeFileSync(path, bytes)
}

function backups(dir: string): string[] {
  return readdirSync(dirname(dir)).filter((name) => name.startsWith(`${basename(dir)}.repair-`))
}

/** Opens the repaired log, checks its entries 1..last byte for byte, appends one, and closes it. */
function expectLogOf(dir: string, last: number): void {
  const log = RaftLog.open(dir, { segmentSize, logger: silentLogger })
  expect([log.firstIndex, log.lastIndex]).toEqual([1, last])
  expect(log.slice(1).map((entry) => entry.data)).toEqual(Array.from({ length: last }, (_, i) => payloadFor(i + 1, 1 + (i >> 7), 200)))
  log.append([{ term: 9, data: payloadFor(last + 1, 9, 200) }])
  log.close()
}

describe('raftlog repair', () => {
  it('cuts at a damaged frame of a sealed segment: backs up, deletes later segments, says what it cut', async () => {
    const dir = await makeLog()
    const files = segments(dir)
    expect(files).toHaveLength(5)
    const damaged = files[1]!
    const offset = headerSizeBytes + 5 * frameSizeBytes(200)
    edit(join(dir, damaged), (bytes) => (bytes[offset + 40]! ^= 0x01))
    const before = hashes(dir, files.slice(1))
    const result = await runCli(['repair', dir])
    expect(result.status, result.stderr).toBe(0)
    const lines = result.stdout.trim().split('\n')
    expect(lines[0]).toBe(`first problem: ${damaged}: byte ${offset} (index 75): checksum mismatch`)
    expect(lines[1]).toBe('the log keeps the entries before index 75; from 75 on they are dropped')
    const [backup] = backups(dir)
    expect(lines[2]).toBe(`backup of the files it changes: ${join(dirname(dir), backup!)}`)
    expect(lines.slice(3, 6)).toEqual([...files.slice(2)].reverse().map((file, i) => `deleted ${file}: ${i === 0 ? 24 : 69} frames, ${segmentSize} bytes`))
    expect(lines[6]).toMatch(new RegExp(`^cut ${damaged} at byte ${offset}: 64 frames, \\d+ bytes \\(its header opened again\\)$`))
    expect(lines[7]).toBe('the log verifies clean: entries 1..74')
    // The backup holds every file it changed, as it was.
    expect(readdirSync(join(dirname(dir), backup!)).sort()).toEqual(files.slice(1))
    expect(hashes(join(dirname(dir), backup!), files.slice(1))).toEqual(before)
    expect(segments(dir)).toEqual(files.slice(0, 2))
    expect((await runCli(['verify', dir])).stdout).toMatch(/^ok: 2 segments, 74 entries \(1\.\.74\)/)
    expectLogOf(dir, 74)
  })

  it("brings the state file's commit index down to the log's new end, backed up; verify warned of it before", async () => {
    const dir = await makeLog()
    const state = RaftStateFile.open(join(dir, 'raft_state.meta'))
    state.save({ currentTerm: 3, votedFor: 2, commitIndex: 290, lastApplied: 280, serverState: 0 })
    state.close()
    const damaged = segments(dir)[1]!
    edit(join(dir, damaged), (bytes) => (bytes[headerSizeBytes + 5 * frameSizeBytes(200) + 40]! ^= 0x01))
    // The corrupt entry is not counted as readable: 299 of 300, as inspect counts them.
    const verify = await runCli(['verify', dir])
    expect(verify.stdout).toMatch(/^1 problem in 5 segments, 299 readable entries;/m)
    const inspect = JSON.parse((await runCli(['inspect', dir, '--json'])).stdout) as { segments: { entries: number }[] }
    expect(inspect.segments.reduce((sum, segment) => sum + segment.entries, 0)).toBe(299)

    const dry = await runCli(['repair', dir, '--dry-run'])
    expect(dry.stdout).toContain("would lower raft_state.meta's commit index from 290 and last applied from 280 to 74")
    const result = await runCli(['repair', dir])
    expect(result.status, result.stdout).toBe(0)
    expect(result.stdout).toContain("lowered raft_state.meta's commit index from 290 and last applied from 280 to 74, the last entry kept: the node gets the entries after it back from its leader")
    expect(readdirSync(join(dirname(dir), backups(dir)[0]!))).toContain('raft_state.meta')
    const after = RaftStateFile.open(join(dir, 'raft_state.meta'))
    expect(after.load()).toMatchObject({ currentTerm: 3, votedFor: 2, commitIndex: 74, lastApplied: 74 })
    after.close()
    expect((await runCli(['verify', dir])).stdout).toMatch(/^ok: 2 segments, 74 entries \(1\.\.74\)/)
  })

  it("verify warns when the state file's commit index points past the log's end (no ok), and repair alone fixes it", async () => {
    const dir = await makeLog(50)
    const state = RaftStateFile.open(join(dir, 'raft_state.meta'))
    state.save({ currentTerm: 1, votedFor: 1, commitIndex: 60, lastApplied: 50, serverState: 0 })
    state.close()
    const verify = await runCli(['verify', dir])
    expect(verify.status).toBe(0)
    expect(verify.stdout).toMatch(/^warning: raft_state\.meta: byte \d+ \(index 60\): commit index 60 and last applied 50 point past the last entry this directory holds \(50\): entries 51\.\.60 this node knew were committed are gone/m)
    expect(verify.stdout).toMatch(/^no problem, 1 warning: /m)
    const result = await runCli(['repair', dir])
    expect(result.stdout.split('\n').slice(0, 3)).toEqual([expect.stringMatching(/^backup of the files it changes: /), 'no segment has a problem', "lowered raft_state.meta's commit index from 60 to 50, the last entry kept: the node gets the entries after it back from its leader"])
    expect((await runCli(['verify', dir])).stdout).toMatch(/^ok: /)
  })

  it('cuts at a damaged frame of the open segment, which open() refuses', async () => {
    const dir = await makeLog(100)
    const last = segments(dir).at(-1)!
    const base = Number(last.slice(8, 28))
    const offset = headerSizeBytes + 9 * frameSizeBytes(200)
    edit(join(dir, last), (bytes) => (bytes[offset + 100]! ^= 0x80))
    expect(() => RaftLog.open(dir, { segmentSize, logger: silentLogger })).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }))
    const result = await runCli(['repair', dir])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toContain(`first problem: ${last}: byte ${offset} (index ${base + 9}): checksum mismatch`)
    expect(result.stdout).toMatch(new RegExp(`cut ${last} at byte ${offset}: ${100 - base - 8} frames, \\d+ bytes\\n`))
    expectLogOf(dir, base + 8)
  })

  it('deletes a segment whose header is damaged, and everything after it', async () => {
    const dir = await makeLog()
    const files = segments(dir)
    edit(join(dir, files[2]!), (bytes) => bytes.fill(0, 0, headerSizeBytes))
    const result = await runCli(['repair', dir])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toContain(`first problem: ${files[2]}: byte 0 (index 139): header is all zero`)
    expect(result.stdout).toContain(`deleted ${files[2]}: 69 frames, ${segmentSize} bytes`)
    expect(segments(dir)).toEqual(files.slice(0, 2))
    expectLogOf(dir, 138)
  })

  it('replaces a file that is not a segment by an empty one, keeping it in the backup', async () => {
    const dir = join(tempDir(), 'node_1')
    RaftLog.open(dir, { logger: silentLogger }).close()
    writeFileSync(join(dir, segmentFileName(1)), 'hello, not a segment')
    const result = await runCli(['repair', dir])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toContain(`replaced ${segmentFileName(1)} by an empty segment at index 1`)
    expect(readFileSync(join(dirname(dir), backups(dir)[0]!, segmentFileName(1)), 'utf8')).toBe('hello, not a segment')
    const log = RaftLog.open(dir, { logger: silentLogger })
    expect([log.firstIndex, log.lastIndex]).toEqual([1, 0])
    log.close()
  })

  it('a damaged offset table over valid frames loses no entry: the segment is opened again and resealed', async () => {
    const dir = await makeLog()
    const files = segments(dir)
    const tableStart = headerSizeBytes + 69 * frameSizeBytes(200)
    edit(join(dir, files[0]!), (bytes) => (bytes[tableStart + 20]! ^= 0x10))
    const result = await runCli(['repair', dir])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toContain(`first problem: ${files[0]}: byte ${tableStart} (index 1): offset table checksum mismatch`)
    expect(result.stdout).toContain('no entry is lost: every frame is valid')
    expect(result.stdout).toContain('the log verifies clean: entries 1..300')
    expect(segments(dir)).toEqual(files)
    expectLogOf(dir, 300)
    const log = RaftLog.open(dir, { segmentSize, logger: silentLogger })
    expect(log.describeSegments()[0]!.sealed).toBe(true)
    log.close()
  })

  it('changes nothing with --dry-run, on a clean log, or on a directory a node holds', async () => {
    const dir = await makeLog()
    const files = segments(dir)
    edit(join(dir, files[1]!), (bytes) => (bytes[200]! ^= 0x01))
    const before = hashes(dir, files)
    const dry = await runCli(['repair', dir, '--dry-run'])
    expect(dry.status, dry.stderr).toBe(0)
    expect(dry.stdout).toContain(`first problem: ${files[1]}: byte 64 (index 70): checksum mismatch`)
    expect(dry.stdout).toContain(`would cut ${files[1]} at byte 64: 69 frames`)
    expect(hashes(dir, files)).toEqual(before)
    // Damage in a sealed segment is found by reads, not by open(): a node can hold this log.
    const node = RaftLog.open(dir, { segmentSize, logger: silentLogger })
    const locked = await runCli(['repair', dir])
    node.close()
    expect([locked.status, locked.stderr.trim()]).toEqual([1, `Error: ${dir} is locked by a running raftlog process`])
    expect(hashes(dir, files)).toEqual(before)
    expect(backups(dir)).toEqual([])
    const clean = await makeLog()
    const result = await runCli(['repair', clean])
    expect([result.status, result.stdout.trim()]).toEqual([0, 'nothing to repair: no segment has a problem\nthe log verifies clean: entries 1..300'])
    expect(backups(clean)).toEqual([])
  })

  it('has help text and is listed', async () => {
    const help = await runCli(['repair', '--help'])
    expect(help.stdout).toMatch(/^Usage: raftlog repair DIR \[--dry-run\]/)
    expect(help.stdout).toMatch(/DIR\.repair-<time>/)
    expect((await runCli(['--help'])).stdout).toMatch(/\n {2}repair {6,}Cut a damaged log at its first problem/)
    expect((await runCli(['repair'])).status).toBe(2)
  })
})
