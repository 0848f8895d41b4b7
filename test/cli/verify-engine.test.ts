// raftlog verify on a shared log engine's directory.
import { describe, expect, it } from 'vitest'
import { closeSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { LogEngine } from '../../src/engine/log-engine.js'
import { engineFileName } from '../../src/engine/engine-format.js'
import { runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('raftlog verify on an engine directory', () => {
  it('says ok with its files, groups and entries, and names the file and byte of damage (exit 1)', async () => {
    const dir = tempDir()
    const engine = LogEngine.open(dir, { fileSize: 16 * 1024, logger: { warn() {} } })
    for (let group = 1; group <= 3; group++) engine.createGroup(group)
    for (let i = 1; i <= 10; i++) for (let group = 1; group <= 3; group++) engine.append(group, [{ term: 1, data: new Uint8Array(100).fill(i) }])
    engine.close()
    const clean = await runCli(['verify', dir])
    expect(clean.status, clean.stderr).toBe(0)
    expect(clean.stdout).toMatch(/^ok: 1 engine file, 3 groups, 30 entries$/m)
    const fd = openSync(join(dir, engineFileName(1)), 'r+')
    writeSync(fd, new Uint8Array([0xee]), 0, 1, 64 + 32 + 3 * 40 + 40 + 10)
    closeSync(fd)
    const damaged = await runCli(['verify', dir])
    expect(damaged.status).toBe(1)
    expect(damaged.stdout).toMatch(/engine_00000000000000000001\.log: byte 216: record checksum mismatch/)
  })

  it('inspect, dump and repair refuse an engine directory, saying only verify reads it yet', async () => {
    const dir = tempDir()
    LogEngine.open(dir, { fileSize: 16 * 1024, logger: { warn() {} } }).close()
    for (const command of ['inspect', 'dump', 'repair']) {
      const result = await runCli([command, dir])
      expect(result.status, command).toBe(1)
      expect(result.stderr, command).toMatch(/holds a log engine's files \(engine_\*\.log\), which only raftlog verify reads yet/)
    }
  })
})
