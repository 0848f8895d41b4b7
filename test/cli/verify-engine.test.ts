// raftlog verify on a shared log engine's directory.
import { describe, expect, it } from 'vitest'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { LogEngine } from '../../src/engine/log-engine.js'
import { engineFileName } from '../../src/engine/engine-format.js'
import { runCli } from '../helpers/cli.js'
import { hostCluster } from '../helpers/host-cluster.js'
import { groupSnapshotDir } from '../../src/host/host-snapshots.js'
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

  it('inspect shows the files and every group: indexes, entries, last term, hard state (text and JSON)', async () => {
    const dir = tempDir()
    const engine = LogEngine.open(dir, { fileSize: 16 * 1024, logger: { warn() {} } })
    for (let group = 1; group <= 2; group++) engine.createGroup(group)
    for (let i = 1; i <= 6; i++) engine.append(1, [{ term: 2, data: new Uint8Array(50).fill(i) }])
    engine.append(2, [{ term: 1, data: new Uint8Array(10) }])
    engine.setHardState(1, { term: 3, vote: 2, commit: 5 })
    await engine.flush()
    engine.compact(1, 3)
    await engine.flush()
    engine.close()
    const text = await runCli(['inspect', dir])
    expect(text.status, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^engine directory: /)
    expect(text.stdout).toMatch(/^engine_00000000000000000001\.log +16384$/m)
    expect(text.stdout).toMatch(/^1 +4 +6 +3 +2 +3 +2 +5 +-$/m)
    expect(text.stdout).toMatch(/^2 +1 +1 +1 +1 +0 +- +0 +-$/m)
    expect(text.stdout).toMatch(/^1 engine file, 2 groups, 4 entries$/m)
    const json = await runCli(['inspect', dir, '--json'])
    expect(json.status, json.stderr).toBe(0)
    const parsed = JSON.parse(json.stdout) as { engine: boolean; ok: boolean; groups: unknown[] }
    expect(parsed).toMatchObject({ engine: true, ok: true })
    expect(parsed.groups).toEqual([
      { group: 1, firstIndex: 4, lastIndex: 6, entries: 3, lastTerm: 2, term: 3, vote: 2, commit: 5 },
      { group: 2, firstIndex: 1, lastIndex: 1, entries: 1, lastTerm: 1, term: 0, vote: 0, commit: 0 },
    ])
  })

  it("inspect shows a group's newest snapshot, taken by a RaftHost beside its engine", async () => {
    const c = hostCluster(3, {
      snapshotEveryEntries: 20,
      snapshotTrailingEntries: 5,
      groups: (host, machine) => host.addGroup(1, [1, 2, 3], machine(1)),
    })
    try {
      for (const id of c.ids) c.start(id)
      for (let i = 0; i < 50; i++) await c.propose(1, `v${i}`)
      await c.until(() => existsSync(groupSnapshotDir(c.dirs[0] as string, 1)) && readdirSync(groupSnapshotDir(c.dirs[0] as string, 1)).some((name) => name.endsWith('.snap')), 'a snapshot on host 1')
      for (const id of c.ids) c.stop(id)
      const json = await runCli(['inspect', c.dirs[0] as string, '--json'])
      expect(json.status, json.stderr).toBe(0)
      const [group] = (JSON.parse(json.stdout) as { groups: { group: number; snapshot?: { index: number } }[] }).groups
      expect(group?.group).toBe(1)
      expect(group?.snapshot?.index).toBeGreaterThanOrEqual(20)
      const text = await runCli(['inspect', c.dirs[0] as string])
      expect(text.stdout).toMatch(new RegExp(`^1 .* ${group?.snapshot?.index} \\(term \\d+\\)$`, 'm'))
    } finally {
      c.cleanup()
    }
  })

  it('dump --group prints one group of an engine directory, as dump prints a log', async () => {
    const dir = tempDir()
    const engine = LogEngine.open(dir, { fileSize: 16 * 1024, logger: { warn() {} } })
    for (let group = 1; group <= 2; group++) engine.createGroup(group)
    for (let i = 1; i <= 5; i++) engine.append(1, [{ term: 2, data: Buffer.from(`one-${i}`) }])
    engine.append(2, [{ term: 1, data: Buffer.from('two') }])
    await engine.flush()
    engine.close()
    const text = await runCli(['dump', dir, '--group', '1', '--from', '2', '--to', '3'])
    expect(text.status, text.stderr).toBe(0)
    expect(text.stdout).toBe('2\tterm 2\tnormal\t5 bytes\t"one-2"\n3\tterm 2\tnormal\t5 bytes\t"one-3"\n')
    const json = await runCli(['dump', dir, '--group', '2', '--format', 'json'])
    expect(JSON.parse(json.stdout)).toEqual({ index: 1, term: 1, type: 'normal', length: 3, data: Buffer.from('two').toString('base64') })
    const noGroup = await runCli(['dump', dir])
    expect(noGroup.status).toBe(2)
    expect(noGroup.stderr).toMatch(/is a log engine's directory, which holds many groups: give --group G/)
    const absent = await runCli(['dump', dir, '--group', '7'])
    expect(absent.status).toBe(1)
    expect(absent.stderr).toMatch(/holds no group 7 \(groups: 1, 2\)/)
    const outside = await runCli(['dump', dir, '--group', '1', '--from', '9'])
    expect(outside.status).toBe(2)
    expect(outside.stderr).toMatch(/--from and --to ask for no entry of group 1: it holds 1\.\.5/)
    // Damage: what the replay read before it is printed, then where it is (exit 1).
    const fd = openSync(join(dir, engineFileName(1)), 'r+')
    writeSync(fd, new Uint8Array([0xee]), 0, 1, 64 + 32 + 2 * 40 + 40 + 2)
    closeSync(fd)
    const damaged = await runCli(['dump', dir, '--group', '1'])
    expect(damaged.status).toBe(1)
    expect(damaged.stderr).toMatch(/engine_00000000000000000001\.log is damaged at byte \d+: .*; group 1's records after it were not read: run raftlog verify/)
  })

  it('repair finds nothing to do in a clean engine directory, and changes nothing', async () => {
    const dir = tempDir()
    LogEngine.open(dir, { fileSize: 16 * 1024, logger: { warn() {} } }).close()
    const before = readdirSync(dir).sort()
    const result = await runCli(['repair', dir])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout.trim()).toBe('nothing to repair: the engine directory has no problem')
    expect(readdirSync(dir).sort()).toEqual(before)
  })
})

describe('raftlog verify of the snapshots beside an engine', () => {
  it('checks every group folder: a damaged snapshot and a log that starts past the newest valid one are problems, a folder of no group is information', async () => {
    const c = hostCluster(3, {
      snapshotEveryEntries: 20,
      snapshotTrailingEntries: 5,
      groups: (host, machine) => host.addGroup(1, [1, 2, 3], machine(1)),
    })
    try {
      for (const id of c.ids) c.start(id)
      for (let i = 0; i < 80; i++) await c.propose(1, `v${i}`)
      const dir = c.dirs[0] as string
      const folder = groupSnapshotDir(dir, 1)
      const snapshotFiles = (): string[] => (existsSync(folder) ? readdirSync(folder).filter((name) => name.endsWith('.snap')).sort() : [])
      // The log compacted behind a snapshot: the check below needs a log that no longer starts at 1.
      await c.until(() => snapshotFiles().length > 0 && c.engines.get(1)!.group(1).firstIndex > 1, 'a snapshot and a compacted log on host 1')
      for (const id of c.ids) c.stop(id)
      mkdirSync(join(dir, 'snapshots', 'group_77'))

      const clean = await runCli(['verify', dir])
      expect(clean.status, clean.stdout + clean.stderr).toBe(0)
      expect(clean.stdout).toMatch(/^snapshots\/group_77: the engine holds no group 77; a host starting that group deletes the folder$/m)
      expect(clean.stdout).toMatch(/^ok: \d+ engine files?, 1 group, \d+ entries; snapshots: \d+ files? in 2 group folders$/m)

      // Every snapshot file damaged: the log starts past what any valid snapshot covers.
      for (const file of snapshotFiles()) {
        const fd = openSync(join(folder, file), 'r+')
        writeSync(fd, new Uint8Array([0x5a]), 0, 1, 100)
        closeSync(fd)
      }
      const damaged = await runCli(['verify', dir])
      expect(damaged.status).toBe(1)
      expect(damaged.stdout).toMatch(new RegExp(`^snapshots/group_1/${snapshotFiles()[0]!.replace('.', '\\.')}: byte \\d+ \\(index \\d+\\): metadata checksum mismatch$`, 'm'))
      expect(damaged.stdout).toMatch(/^snapshots\/group_1: byte 0 \(index \d+\): group 1's log starts at index \d+, but it has no valid snapshot: a replica cannot start/m)
    } finally {
      c.cleanup()
    }
  })
})
