import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { RaftLog, RaftLogError, RaftStateFile } from '../../src/index.js'
import { headerSizeBytes } from '../../src/storage/segment-format.js'
import { runCliHere } from '../helpers/cli.js'
import { silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

/** A log of 300 small text entries over a few 4 KiB segments, and a state file. */
async function makeLog(): Promise<string> {
  const dir = tempDir()
  const log = RaftLog.open(dir, { segmentSize: 4096, logger: silentLogger })
  for (let i = 1; i <= 300; i++) log.append([{ term: 1 + (i >> 6), data: Buffer.from(`entry ${i}`) }])
  log.append([{ term: 5, data: new Uint8Array([0, 1, 2, 255]) }])
  await log.flush()
  log.close()
  const state = RaftStateFile.open(join(dir, 'raft_state.meta'))
  state.save({ currentTerm: 5, votedFor: 2, commitIndex: 290, lastApplied: 280, serverState: 2 })
  state.close()
  return dir
}

/** A log whose process flushed its entries and exited without close(): its last segment is open. */
function makeLogExitedWithoutClose(): string {
  const dir = tempDir()
  const index = new URL('../../dist/index.js', import.meta.url).href
  const script = `import { RaftLog } from '${index}'
const log = RaftLog.open(${JSON.stringify(dir)}, { segmentSize: 4096, logger: { warn() {} } })
for (let i = 1; i <= 300; i++) log.append([{ term: 1, data: Buffer.from('entry ' + i) }])
log.flushSync()
process.exit(0)`
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return dir
}

function hashDirectory(dir: string): string {
  const hash = createHash('sha256')
  // A closed log's spare segment may still be being zero-filled, then removed: not the tools' doing.
  for (const name of readdirSync(dir).sort()) if (!name.startsWith('next-segment-')) hash.update(name).update(readFileSync(join(dir, name)))
  return hash.digest('hex')
}

function segments(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('segment_')).sort()
}

describe('raftlog inspect, verify and dump', () => {
  it('inspect shows the state file and every segment', async () => {
    const dir = await makeLog()
    const result = await runCliHere(['inspect', dir])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/term 5, voted for 2, commit index 290, last applied 280, leader/)
    expect(result.stdout).toMatch(/slot 0 current, sequence 1/)
    expect(result.stdout).toMatch(/segment_00000000000000000001\.log\s+1\s+\d+\s+1\s+\d+\s+\d+ \/ 4096\s+sealed/)
    expect(result.stdout).toMatch(/open\n\n\d+ segments, 301 entries, indexes 1\.\.301/)
    const json = JSON.parse((await runCliHere(['inspect', dir, '--json'])).stdout)
    expect(json.segments.reduce((sum: number, s: { entries: number }) => sum + s.entries, 0)).toBe(301)
  })

  it('verify says ok on a clean log and the commands change no byte', async () => {
    const dir = await makeLog()
    const before = hashDirectory(dir)
    const result = await runCliHere(['verify', dir])
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/^ok: \d+ segments, 301 entries \(1\.\.301\)/)
    await runCliHere(['inspect', dir])
    await runCliHere(['dump', dir, '--format', 'hex'])
    expect(hashDirectory(dir)).toBe(before)
  })

  it('verify finds a byte flipped in a sealed segment, with file, offset and index', async () => {
    const dir = await makeLog()
    const first = join(dir, segments(dir)[0]!)
    const bytes = readFileSync(first)
    bytes[headerSizeBytes + 40 + 32 + 3] = bytes[headerSizeBytes + 40 + 32 + 3]! ^ 0x01 // payload of index 2 (frame 1 is 40 bytes)
    writeFileSync(first, bytes)
    const result = await runCliHere(['verify', dir])
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(/segment_00000000000000000001\.log: byte 104 \(index 2\): checksum mismatch/)
    expect(result.stdout).toMatch(/1 problem in/)
    const json = JSON.parse((await runCliHere(['verify', dir, '--json'])).stdout)
    expect(json.problems).toEqual([{ file: 'segment_00000000000000000001.log', offset: 104, index: 2, problem: 'checksum mismatch' }])
  })

  it('verify finds a missing middle segment', async () => {
    const dir = await makeLog()
    const files = segments(dir)
    expect(files.length).toBeGreaterThanOrEqual(3)
    rmSync(join(dir, files[1]!))
    const result = await runCliHere(['verify', dir])
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(/a segment is missing: entries \d+\.\.\d+ are in no file/)
  })

  it('verify names the damaged frame of a full segment that was never sealed, not only the gap after it', async () => {
    const dir = makeLogExitedWithoutClose()
    const files = segments(dir)
    expect(files.length).toBeGreaterThanOrEqual(3)
    const first = join(dir, files[0]!)
    const bytes = readFileSync(first)
    bytes[headerSizeBytes + 40 + 32 + 3] = bytes[headerSizeBytes + 40 + 32 + 3]! ^ 0x01 // payload of index 2
    writeFileSync(first, bytes)
    const json = JSON.parse((await runCliHere(['verify', dir, '--json'])).stdout)
    expect(json.problems[0]).toEqual({ file: files[0], offset: headerSizeBytes + 40, index: 2, problem: 'checksum mismatch' })
  })

  it('verify reports a torn tail of the open segment as information, not a problem', async () => {
    const dir = await makeLog()
    const last = join(dir, segments(dir).at(-1)!)
    const bytes = readFileSync(last)
    bytes.fill(0xab, bytes.length - 100)
    writeFileSync(last, bytes)
    const result = await runCliHere(['verify', dir])
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/ok: .*; \d+ bytes after the last entry would be cut by recovery/)
  })

  it('dump prints text, JSON lines and hex for a range', async () => {
    const dir = await makeLog()
    const text = await runCliHere(['dump', dir, '--from', '10', '--to', '12'])
    expect(text.stdout).toBe('10\tterm 1\tnormal\t8 bytes\t"entry 10"\n11\tterm 1\tnormal\t8 bytes\t"entry 11"\n12\tterm 1\tnormal\t8 bytes\t"entry 12"\n')
    const binary = await runCliHere(['dump', dir, '--from', '301'])
    expect(binary.stdout).toBe('301\tterm 5\tnormal\t4 bytes\tbase64:AAEC/w==\n')
    const json = (await runCliHere(['dump', dir, '--format', 'json'])).stdout.trim().split('\n').map((line) => JSON.parse(line))
    expect(json.length).toBe(301)
    expect(json[99]).toEqual({ index: 100, term: 2, type: 'normal', length: 9, data: Buffer.from('entry 100').toString('base64') })
    const hex = await runCliHere(['dump', dir, '--from', '1', '--to', '1', '--format', 'hex'])
    expect(hex.stdout).toMatch(/^1\tterm 1\tnormal\t7 bytes\n {2}00000000 {2}65 6e 74 72 79 20 31 +\|entry 1\|\n$/)
  })

  it('a failed system call is one Error line and exit 1, not a stack trace', async () => {
    const dir = tempDir()
    // A directory under a segment's name: mapping it fails in the kernel (ENODEV).
    mkdirSync(join(dir, 'segment_00000000000000000001.log'))
    const result = await runCliHere(['verify', dir])
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/^Error: ENODEV: .*mmap '.*segment_00000000000000000001\.log'\n$/)
  })

  it('dump refuses an index outside the log instead of printing nothing', async () => {
    const dir = await makeLog()
    for (const args of [['--from', '5000'], ['--to', '5000'], ['--from', '0']]) {
      const result = await runCliHere(['dump', dir, ...args])
      expect(result.status, args.join(' ')).toBe(2)
      expect(result.stderr).toMatch(new RegExp(`${args[0]} ${args[1]} is outside the log: the log holds 1\\.\\.301`))
    }
  })

  it('all three refuse a directory that is not a log, a missing one, and one a node holds open', async () => {
    const plain = tempDir()
    mkdirSync(join(plain, 'sub'))
    writeFileSync(join(plain, 'notes.txt'), 'hi')
    const dir = await makeLog()
    const open = RaftLog.open(dir, { logger: silentLogger })
    try {
      for (const command of ['inspect', 'verify', 'dump']) {
        const notLog = await runCliHere([command, plain])
        expect(notLog.status).toBe(1)
        expect(notLog.stderr).toMatch(/is not a raftlog directory/)
        const missing = await runCliHere([command, join(plain, 'nope')])
        expect(missing.stderr).toMatch(/nope does not exist/)
        const locked = await runCliHere([command, dir])
        expect(locked.status).toBe(1)
        expect(locked.stderr.trim()).toBe(`Error: ${dir} is locked by a running raftlog process`)
        expect((await runCliHere([command])).status).toBe(2)
        expect((await runCliHere([command, '--help'])).stdout).toMatch(new RegExp(`Usage: raftlog ${command} DIR`))
      }
    } finally {
      open.close()
    }
    expect((await runCliHere(['dump', dir, '--from', 'x'])).stderr).toMatch(/--from must be a whole number/)
    expect((await runCliHere(['dump', dir, '--format', 'xml'])).status).toBe(2)
  })
})

describe('raftlog verify judges as open() does, and checks the state file', () => {
  it('reports exactly the damage open() refuses: file, byte and index', async () => {
    const dir = makeLogExitedWithoutClose()
    const last = join(dir, segments(dir).at(-1)!)
    const bytes = readFileSync(last)
    bytes[headerSizeBytes + 32 + 2] = bytes[headerSizeBytes + 32 + 2]! ^ 0x01 // payload of the open segment's first entry
    writeFileSync(last, bytes)
    let refused: RaftLogError | undefined
    try {
      RaftLog.open(dir, { segmentSize: 4096, logger: silentLogger }).close()
    } catch (error) {
      refused = error as RaftLogError
    }
    expect(refused?.code).toBe('ERR_CORRUPT')
    const result = await runCliHere(['verify', dir, '--json'])
    expect(result.status).toBe(1)
    const { file, offset, index, problem } = refused!.details as { file: string; offset: number; index: number; problem: string }
    expect(JSON.parse(result.stdout).problems).toEqual([{ file: basename(file), offset, index, problem }])
  })

  it('reports what open() would cut after a crash as information, with the same figures', async () => {
    const dir = await makeLog()
    const last = join(dir, segments(dir).at(-1)!)
    // A frame past the end written back in part: its first sector there, its second not.
    const end = RaftLog.open(dir, { segmentSize: 4096, logger: silentLogger })
    const used = end.describeSegments().at(-1)!.usedBytes
    end.close()
    const bytes = readFileSync(last)
    bytes.writeUInt32LE(900, used)
    bytes.fill(0x5a, used + 8, Math.min(bytes.length, used - (used % 512) + 512))
    writeFileSync(last, bytes)
    const verify = await runCliHere(['verify', dir])
    expect(verify.status, verify.stdout).toBe(0)
    const cut = /recovery would cut (\d+) bytes \(0 checksummed frames\) of (\S+) from byte (\d+) \(index 302\): torn write/.exec(verify.stdout)
    expect(cut?.slice(2)).toEqual([basename(last), String(used)])
    const log = RaftLog.open(dir, { segmentSize: 4096, logger: silentLogger })
    expect([log.lastIndex, log.recovery.cutBytes]).toEqual([301, Number(cut![1])])
    log.close()
  })

  it('says which state-file slot is current, warns of a damaged slot beside a valid one, and fails on no valid slot', async () => {
    const dir = await makeLog()
    const clean = await runCliHere(['verify', dir])
    expect(clean.stdout).toMatch(/^ok: .*; state file slot 0 current \(sequence 1, term 5\)$/m)
    const state = RaftStateFile.open(join(dir, 'raft_state.meta'))
    state.save({ currentTerm: 6, votedFor: 1, commitIndex: 295, lastApplied: 290, serverState: 0 })
    state.close()
    // The older slot (0) damaged: a save cut short leaves that; slot 1 holds the state.
    const path = join(dir, 'raft_state.meta')
    const bytes = readFileSync(path)
    bytes[20] = bytes[20]! ^ 0xff
    writeFileSync(path, bytes)
    const warned = await runCliHere(['verify', dir])
    expect(warned.status).toBe(0)
    expect(warned.stdout).toMatch(/^warning: raft_state\.meta: byte 0: slot 0 checksum mismatch; slot 1 is current$/m)
    expect(warned.stdout).not.toMatch(/^ok/m)
    expect(warned.stdout).toMatch(/^no problem, 1 warning: .*; state file slot 1 current \(sequence 2, term 6\)$/m)
    expect(JSON.parse((await runCliHere(['verify', dir, '--json'])).stdout)).toMatchObject({ ok: false, problems: [], warnings: [{ file: 'raft_state.meta', offset: 0 }] })
    bytes[4096 + 20] = bytes[4096 + 20]! ^ 0xff
    writeFileSync(path, bytes)
    const failed = await runCliHere(['verify', dir])
    expect(failed.status).toBe(1)
    expect(failed.stdout).toMatch(/^raft_state\.meta: byte 0: no valid slot: slot 0 checksum mismatch, slot 1 checksum mismatch$/m)
    expect(failed.stdout).toMatch(/^1 problem in \d+ segments, 301 readable entries; state file has no valid slot$/m)
  })

  it('a segment file that is not a segment is a problem, not "ok: empty"', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'segment_00000000000000000001.log'), 'hello, not a segment')
    const result = await runCliHere(['verify', dir])
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(/^segment_00000000000000000001\.log: byte 0 \(index 1\): not a segment: 20 bytes/)
  })
})

describe('raftlog dump refuses loudly', () => {
  it('a directory that is not a raftlog directory: one Error line, exit 1, nothing printed', async () => {
    const garbage = tempDir()
    writeFileSync(join(garbage, 'segment_00000000000000000001.log'), 'hello, not a segment')
    const neverSaved = tempDir()
    RaftStateFile.open(join(neverSaved, 'raft_state.meta')).close()
    for (const dir of [garbage, neverSaved]) {
      const result = await runCliHere(['dump', dir])
      expect(result.status).toBe(1)
      expect(result.stdout).toBe('')
      expect(result.stderr).toMatch(new RegExp(`^Error: ${dir} is not a raftlog directory: no segment file with a valid header.*, no valid raft_state\\.meta\\n$`))
    }
  })

  it('a damaged log: the readable entries, then where the damage is, exit 1', async () => {
    const dir = await makeLog()
    const first = join(dir, segments(dir)[0]!)
    const bytes = readFileSync(first)
    bytes[headerSizeBytes + 40 + 32 + 3] = bytes[headerSizeBytes + 40 + 32 + 3]! ^ 0x01 // payload of index 2
    writeFileSync(first, bytes)
    const result = await runCliHere(['dump', dir])
    expect(result.status).toBe(1)
    expect(result.stdout.split('\n')[0]).toBe('1\tterm 1\tnormal\t7 bytes\t"entry 1"')
    expect(result.stdout).not.toMatch(/^2\t/m)
    expect(result.stderr.trim()).toBe(`Error: segment_00000000000000000001.log is damaged at byte 104 (index 2): checksum mismatch; what it holds there was not printed: run raftlog verify ${dir}`)
  })
})
