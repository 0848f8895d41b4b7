// raftlog crash-test --engine: the shared log engine's crash test from the command line.
import { describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('raftlog crash-test --engine', () => {
  it('passes kill and power-loss rounds of a many-group writer and reports them as JSON', async () => {
    const dir = join(tempDir(), 'engine')
    const result = await runCli(['crash-test', '--engine', '--groups', '24', '--dir', dir, '--rounds', '6', '--seed', '5', '--mode', 'both', '--entry-size', '0-400', '--json'])
    expect(result.status, result.stderr).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report).toMatchObject({ seed: 5, rounds: 6, killRounds: 3, powerLossRounds: 3, outsideKillRounds: 2, violations: [], pass: true, dir })
    expect(report.changesAcknowledged).toBeGreaterThan(0)
  })

  it('fails a writer that acknowledges what it never wrote, and refuses modes it has no rounds for', async () => {
    // In a test directory: a failed run keeps its directory for the user to look into.
    const broken = await runCli(['crash-test', '--engine', '--dir', join(tempDir(), 'engine'), '--rounds', '2', '--seed', '3', '--mode', 'kill', '--broken-writer'])
    expect(broken.status).toBe(1)
    expect(broken.stdout).toMatch(/FAIL: replay with raftlog crash-test --engine --seed 3/)
    const usage = await runCli(['crash-test', '--engine', '--mode', 'corrupt'])
    expect(usage.status).toBe(2)
    expect(usage.stderr).toMatch(/--engine runs kill, power-loss or both rounds/)
  })
})
