import { describe, expect, it } from 'vitest'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('raftlog crash-test', () => {
  it('passes both kinds of rounds and reports them as JSON', async () => {
    const dir = join(tempDir(), 'log')
    const result = await runCli(['crash-test', '--dir', dir, '--rounds', '6', '--seed', '11', '--mode', 'both', '--entry-size', '10-300', '--json'])
    expect(result.status, result.stderr).toBe(0)
    const report = JSON.parse(result.stdout)
    // Rounds 1 and 4 are killed from outside while the writer appends at full speed; 3 and 6 inside an operation.
    expect(report).toMatchObject({ seed: 11, rounds: 6, killRounds: 3, powerLossRounds: 3, crashPointRounds: 2, outsideKillRounds: 2, violations: [], pass: true, dir })
    expect(report.entriesAcknowledged).toBeGreaterThan(0)
  })

  it('replays a run exactly from its seed when the writer kills itself: kill points and damage are chosen by it, not by a clock', async () => {
    const run = async (): Promise<Record<string, unknown>> => {
      const result = await runCli(['crash-test', '--rounds', '6', '--seed', '42', '--mode', 'both', '--kill-from', 'inside', '--json'])
      expect(result.status, result.stderr).toBe(0)
      const { durationMs: _duration, dir: _dir, ...report } = JSON.parse(result.stdout) as Record<string, unknown>
      return report
    }
    const first = await run()
    expect(first.crashPointRounds).toBe(2)
    expect(await run()).toEqual(first)
  })

  it('corrupt rounds: damage to the recovered log is refused or read back exactly, and a seed replays them', async () => {
    const run = async (): Promise<Record<string, unknown>> => {
      const result = await runCli(['crash-test', '--rounds', '3', '--seed', '21', '--mode', 'corrupt', '--kill-from', 'inside', '--json'])
      expect(result.status, result.stdout).toBe(0)
      const { durationMs: _duration, dir: _dir, ...report } = JSON.parse(result.stdout) as Record<string, unknown>
      return report
    }
    const first = await run()
    expect(first).toMatchObject({ rounds: 3, corruptRounds: 3, killRounds: 0, powerLossRounds: 0, violations: [], pass: true })
    const outcomes = first.corruptOutcomes as Record<string, number>
    expect(Object.values(outcomes).reduce((sum, count) => sum + count, 0)).toBe(3)
    expect(await run()).toEqual(first)
    const text = await runCli(['crash-test', '--rounds', '1', '--seed', '21', '--mode', 'corrupt', '--kill-from', 'inside'])
    expect(text.stderr).toMatch(/round 1\/1: corrupt: (bit \d of byte \d+ flipped|\d+ random bytes at byte \d+) \(\w[\w ]*\) in segment_\d{20}\.log: (refused at open|refused at read|exact):/)
    expect(text.stdout).toMatch(/after damage: +\d+ refused by open\(\), \d+ refused by a read, \d+ read back exactly/)
  })

  it('prints progress lines and a PASS report when not on a terminal', async () => {
    const result = await runCli(['crash-test', '--rounds', '3', '--seed', '5', '--mode', 'kill'])
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0)
    expect(result.stderr).toMatch(/round 1\/3: kill from outside: \d+ acknowledged/)
    expect(result.stderr).toMatch(/round 2\/3: kill: \d+ acknowledged/)
    expect(result.stdout).toMatch(/rounds: +3 \(3 kill, 0 power-loss, 0 corrupt; 1 inside an operation, 1 killed from outside\)/)
    expect(result.stdout).toMatch(/crash-test report \(seed 5\)[\s\S]*violations: +0[\s\S]*PASS/)
  })

  it('a deliberately broken writer fails the run, with the seed that replays it', async () => {
    const dir = join(tempDir(), 'log')
    const result = await runCli(['crash-test', '--dir', dir, '--rounds', '3', '--seed', '77', '--mode', 'kill', '--broken-writer'])
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(/round \d+, index \d+: acknowledged entry/)
    expect(result.stdout).toMatch(/FAIL: replay with raftlog crash-test --seed 77/)
  })

  it('refuses bad options and a directory that is not empty', async () => {
    for (const args of [['--rounds', 'many'], ['--mode', 'flood'], ['--kill-from', 'above'], ['--entry-size', '9-3'], ['--segment-size', '5000'], ['--frobnicate']]) {
      const result = await runCli(['crash-test', ...args])
      expect(result.status, args.join(' ')).toBe(2)
      expect(result.stderr).toMatch(/^Error: /)
    }
    const dir = tempDir()
    writeFileSync(join(dir, 'precious.txt'), 'keep me')
    const result = await runCli(['crash-test', '--dir', dir])
    expect(result.status).toBe(2)
    expect(result.stderr).toMatch(/is not empty/)
  })

  it('has help text', async () => {
    const result = await runCli(['crash-test', '--help'])
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/Usage: raftlog crash-test/)
    expect(result.stdout).toMatch(/--mode M/)
    expect(result.stdout).toMatch(/corrupt rounds/)
  })
})
