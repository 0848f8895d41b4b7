// `raftlog repair` on a damaged shared log engine's directory: it backs up what it changes, cuts at
// the first problem, keeps every group's entries before it, keeps the terms and votes that frames
// after the problem hold (a replica must never vote twice in one term), and leaves a directory that
// verifies clean and opens.
import { describe, expect, it } from 'vitest'
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { LogEngine } from '../../src/engine/log-engine.js'
import { engineFileName, readFileHeader } from '../../src/engine/engine-format.js'
import { walkEngineFile } from '../../src/engine/engine-walk.js'
import { verifyEngineDirectory } from '../../src/verify/engine-check.js'
import { runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp-dir.js'

const quiet = { warn() {} }
const payload = (group: number, i: number): Uint8Array => new Uint8Array(200).fill((group * 31 + i) % 251)

/**
 * Groups 1 to 3 with 80 entries each over several 16 KiB files; group 1 votes in term 1 early, and
 * in term 5 (for host 3) at the end, after the damage that follows; group 9 is created at the end.
 */
async function makeEngine(): Promise<string> {
  const dir = join(tempDir(), 'host_1')
  const engine = LogEngine.open(dir, { fileSize: 16 * 1024, logger: quiet })
  for (let group = 1; group <= 3; group++) engine.createGroup(group)
  engine.setHardState(1, { term: 1, vote: 1, commit: 0 })
  for (let i = 1; i <= 80; i++) {
    for (let group = 1; group <= 3; group++) engine.append(group, [{ term: 1, data: payload(group, i) }])
    if (i % 5 === 0) {
      engine.setHardState(1, { term: 1, vote: 1, commit: i })
      await engine.flush()
    }
  }
  engine.setHardState(1, { term: 5, vote: 3, commit: 80 })
  engine.createGroup(9)
  engine.setHardState(9, { term: 2, vote: 1, commit: 0 })
  await engine.flush()
  engine.close()
  return dir
}

function engineFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('engine_')).sort()
}

/** Flips a payload byte of a record in the middle of file 2: damage, not a torn write. */
function damageFileTwo(dir: string): void {
  const path = join(dir, engineFileName(2))
  const bytes = readFileSync(path)
  const header = readFileHeader(bytes)
  if (typeof header === 'string') throw new Error(header)
  const records: number[] = []
  walkEngineFile(bytes, header.firstBatch, false, (_fields, offset) => records.push(offset))
  const fd = openSync(path, 'r+')
  writeSync(fd, new Uint8Array([(bytes[(records[Math.floor(records.length / 2)] as number) + 60] as number) ^ 0xff]), 0, 1, (records[Math.floor(records.length / 2)] as number) + 60)
  closeSync(fd)
}

describe('raftlog repair on an engine directory', () => {
  it('cuts at the first problem, keeps the entries before it and the votes after it, and leaves a directory that opens', async () => {
    const dir = await makeEngine()
    expect(engineFiles(dir).length).toBeGreaterThan(3)
    damageFileTwo(dir)
    const problem = verifyEngineDirectory(dir).problems[0]
    expect(problem).toMatchObject({ file: engineFileName(2), problem: 'record checksum mismatch' })
    expect(() => LogEngine.open(dir, { logger: quiet })).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }))

    const names = engineFiles(dir)
    const before = names.map((file) => readFileSync(join(dir, file)))
    const dry = await runCli(['repair', dir, '--dry-run'])
    expect(dry.status, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/^first problem: engine_00000000000000000002\.log: byte \d+: record checksum mismatch$/m)
    expect(dry.stdout).toMatch(/^would cut engine_00000000000000000002\.log at byte \d+/m)
    expect(dry.stdout).toMatch(/^would delete engine_00000000000000000003\.log$/m)
    expect(dry.stdout).toMatch(/^group 1: keeps entries up to \d+; loses entries up to 80 at least; keeps term 5 and vote 3 from a frame after the problem$/m)
    expect(dry.stdout).toMatch(/^group 2: keeps entries up to \d+; loses entries up to 80 at least$/m)
    expect(dry.stdout).toMatch(/^group 9: created after the problem: would come back empty; keeps term 2 and vote 1 from a frame after the problem$/m)
    expect(engineFiles(dir).map((file) => readFileSync(join(dir, file)))).toEqual(before)

    const repaired = await runCli(['repair', dir])
    expect(repaired.status, repaired.stderr).toBe(0)
    const backup = /^backup of the files it changes: (.+)$/m.exec(repaired.stdout)?.[1] as string
    expect(basename(backup)).toMatch(/^host_1\.repair-/)
    expect(dirname(backup)).toBe(dirname(dir))
    // The file cut and every file deleted, as they were.
    expect(readdirSync(backup).sort()).toEqual(names.slice(1))
    expect(readFileSync(join(backup, engineFileName(3))).equals(before[2] as Buffer)).toBe(true)
    expect(repaired.stdout).toMatch(/^the engine directory verifies clean: 4 groups, \d+ entries$/m)
    expect(engineFiles(dir)).toEqual([engineFileName(1), engineFileName(2)])

    const engine = LogEngine.open(dir, { logger: quiet })
    try {
      // Every group keeps exactly what it wrote, up to its last entry kept.
      for (let group = 1; group <= 3; group++) {
        const last = engine.lastIndex(group)
        expect(last).toBeGreaterThan(0)
        expect(last).toBeLessThan(80)
        expect(engine.entries(group, 1, last + 1).map((entry) => Buffer.from(entry.data))).toEqual(Array.from({ length: last }, (_, i) => Buffer.from(payload(group, i + 1))))
      }
      // The vote of term 5, written after the damage, is not lost; the commit is no further than the log.
      expect(engine.hardState(1)).toEqual({ term: 5, vote: 3, commit: engine.lastIndex(1) })
      expect(engine.hasGroup(9)).toBe(true)
      expect(engine.hardState(9)).toMatchObject({ term: 2, vote: 1 })
      expect(engine.lastIndex(9)).toBe(0)
    } finally {
      engine.close()
    }

    const again = await runCli(['repair', dir])
    expect(again.status, again.stderr).toBe(0)
    expect(again.stdout.trim()).toBe('nothing to repair: the engine directory has no problem')
  })

  it('refuses an engine directory a running process holds, changing nothing', async () => {
    const dir = await makeEngine()
    const engine = LogEngine.open(dir, { logger: quiet })
    try {
      const refused = await runCli(['repair', dir])
      expect(refused.status).not.toBe(0)
      expect(refused.stderr).toMatch(/ERR_LOCKED|locked by a running raftlog process/)
      expect(existsSync(`${dir}.repair`)).toBe(false)
      expect(readdirSync(dirname(dir)).filter((name) => name.includes('.repair-'))).toEqual([])
    } finally {
      engine.close()
    }
  })
})
