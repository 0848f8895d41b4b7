// recover --as-new-cluster on real node directories, in one process: the recovered node starts
// as the only voter of a new cluster even when told its old peers, with every entry it held; the
// plan changes nothing; the backup holds the files as they were; a running node's directory and
// an unconfirmed run are refused.
import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryCluster, ListMachine } from '../helpers/memory-cluster.js'
import { runCliHere } from '../helpers/cli.js'
import { waitFor } from '../helpers/raft-nodes.js'
import { planNewClusterRecovery, recoverAsNewCluster } from '../../src/verify/recover-as-new-cluster.js'

const timers = { electionTimeout: [60, 120] as [number, number], heartbeatInterval: 15 }

/** A digest of a file's bytes: segments are megabytes, too large for a deep comparison. */
function digest(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

/** A digest of every file in `dir`, by name. */
function contents(dir: string): Map<string, string> {
  return new Map(readdirSync(dir).filter((name) => name !== 'LOCK').map((name) => [name, digest(join(dir, name))]))
}

async function stoppedClusterWith(items: string[]): Promise<MemoryCluster<ListMachine>> {
  const cluster = await MemoryCluster.start({ size: 3, machine: () => new ListMachine(), node: timers })
  await cluster.proposeAll(items)
  // Every node holds every item before the cluster is lost.
  await waitFor('every node to apply every item', () => [...cluster.machines.values()].every((machine) => machine.items.length === items.length))
  for (const id of [1, 2, 3]) await cluster.stopNode(id)
  return cluster
}

describe('recover --as-new-cluster', () => {
  it('starts the survivor as the only voter of a new cluster, with every entry, though it is given its old peers', async () => {
    const items = Array.from({ length: 20 }, (_, i) => `item-${i}`)
    const cluster = await stoppedClusterWith(items)
    const dir = cluster.dirs.get(2) as string
    const before = contents(dir)
    const plan = await planNewClusterRecovery(dir)
    // Planning reads only.
    expect(contents(dir)).toEqual(before)
    expect(plan).toMatchObject({ nodeId: 2, entryIndex: plan.lastIndex + 1, next: { voters: [2], learners: [], removed: [1, 3] } })
    expect(plan.entryTerm).toBeGreaterThan(plan.lastTerm)
    expect(plan.newClusterId).toMatch(/^[0-9a-f]{32}$/)
    expect(plan.newClusterId).not.toBe(plan.oldClusterId)

    const backup = await recoverAsNewCluster(plan)
    // The backup holds every file it changed, as it was before.
    for (const file of plan.files) expect(digest(join(backup, file)), file).toBe(before.get(file))

    // Started as a YAML file would start it: with the old three voters as its peers.
    const node = await cluster.startNode(2, {}, [1, 2, 3])
    await waitFor('node 2 to lead alone', () => node.status().role === 'leader')
    expect(node.configuration).toMatchObject({ voters: [2], learners: [], removed: [1, 3] })
    expect(node.clusterId).toBe(plan.newClusterId)
    await cluster.propose('after-recovery')
    expect(cluster.machines.get(2)?.items).toEqual([...items, 'after-recovery'])
  })

  it('refuses a directory a running node holds, and an unconfirmed run off a terminal; --dry-run changes nothing', async () => {
    const cluster = await MemoryCluster.start({ size: 1, machine: () => new ListMachine(), node: timers })
    await cluster.propose('one')
    const dir = cluster.dirs.get(1) as string
    await expect(planNewClusterRecovery(dir)).rejects.toMatchObject({ code: 'ERR_LOCKED', message: expect.stringContaining('stop the node first') })
    await cluster.stopNode(1)
    const before = contents(dir)
    const dry = await runCliHere(['recover', dir, '--as-new-cluster', '--dry-run'])
    expect(dry.status).toBe(0)
    expect(dry.stdout).toContain('node 1 becomes its only member')
    expect(dry.stdout).toContain('dry run: nothing changed (a run that recovers chooses its own random cluster id)')
    // Standard input that is not a terminal (as in a script or CI; the test runner's may be one).
    const tty = Object.getOwnPropertyDescriptor(process.stdin, 'isTTY')
    Object.defineProperty(process.stdin, 'isTTY', { value: false, configurable: true })
    const unconfirmed = await runCliHere(['recover', dir, '--as-new-cluster']).finally(() => (tty === undefined ? delete (process.stdin as { isTTY?: boolean }).isTTY : Object.defineProperty(process.stdin, 'isTTY', tty)))
    expect(unconfirmed.status).toBe(1)
    expect(unconfirmed.stderr).toContain('give --yes to go ahead without asking. Nothing was changed')
    const bare = await runCliHere(['recover', dir])
    expect(bare.status).toBe(2)
    expect(bare.stderr).toContain('recover needs --as-new-cluster')
    expect(contents(dir)).toEqual(before)
  })
})
