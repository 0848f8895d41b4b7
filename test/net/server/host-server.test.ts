// Three RaftHosts served over gRPC on this machine, 32 groups each: every group elects and takes
// proposals through HostClient (which finds each group's leader itself), every group's messages
// for a peer travel on one stream per host pair, and when a host stops, the groups it led elect
// leaders on the others and take proposals again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startHostServer, type HostServer } from '../../../src/net/server/host-server.js'
import { HostClient } from '../../../src/net/client/host-client.js'
import { freePorts } from '../../helpers/processes.js'
import type { LogEntry } from '../../../src/storage/log-entry.js'

const groups = 32
let dirs: string[] = []
let servers: (HostServer | undefined)[] = []
let hosts: { id: number; address: string }[] = []
const applied = new Map<string, string[]>()

beforeAll(async () => {
  const ports = await freePorts(3)
  hosts = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }))
  dirs = hosts.map(() => mkdtempSync(join(tmpdir(), 'raftlog-host-server-')))
  servers = await Promise.all(
    hosts.map((host, i) =>
      startHostServer({
        nodeId: host.id,
        hosts,
        dir: dirs[i] as string,
        groups,
        stateMachine: (group) => ({
          apply: (entry: LogEntry) => {
            if (Buffer.from(entry.data).toString() === 'refused') throw Object.assign(new Error(`group ${group} refuses entry ${entry.index}`), { code: 'ERR_REFUSED' })
            const key = `${host.id}/${group}`
            applied.set(key, [...(applied.get(key) ?? []), Buffer.from(entry.data).toString()])
            return Buffer.from(`${group}:${entry.index}`)
          },
        }),
      }),
    ),
  )
})

afterAll(async () => {
  for (const server of servers) await server?.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe('RaftHost over gRPC', () => {
  it('takes a proposal in every group at its leader, one stream per host pair carrying them all', async () => {
    const client = new HostClient(hosts)
    try {
      const answers = await Promise.all(Array.from({ length: groups }, (_, g) => client.propose(g + 1, Buffer.from(`first ${g + 1}`), 15_000)))
      expect(answers.map(String)).toEqual(Array.from({ length: groups }, (_, g) => expect.stringMatching(new RegExp(`^${g + 1}:\\d+$`))))
      const leaders = await client.leadersAt(1)
      expect(new Set(leaders.values()).size).toBeGreaterThan(1)
      for (const server of servers) expect(server?.transport.counts.streamsOpened).toBe(2)
      // Every replica applies it.
      await new Promise((resolve) => setTimeout(resolve, 300))
      for (let group = 1; group <= groups; group++) for (const host of hosts) expect(applied.get(`${host.id}/${group}`)).toEqual([`first ${group}`])
    } finally {
      client.close()
    }
  })

  it("answers a proposal its state machine refuses with the state machine's error, once, and the group goes on", async () => {
    const client = new HostClient(hosts)
    try {
      const group = 3
      await expect(client.propose(group, Buffer.from('refused'), 5000)).rejects.toMatchObject({ code: 'ERR_REFUSED', message: expect.stringMatching(/group 3 refuses entry \d+/) })
      expect(String(await client.propose(group, Buffer.from('then'), 5000))).toMatch(/^3:\d+$/)
      await new Promise((resolve) => setTimeout(resolve, 300))
      // Proposed once (no retry of a final answer), applied nowhere, and every host still runs.
      for (const host of hosts) expect(applied.get(`${host.id}/${group}`)).toEqual([`first ${group}`, 'then'])
      for (const server of servers) expect(server?.host.failure).toBeUndefined()
      for (const server of servers) expect(server?.engine.lastIndex(group)).toBe(servers[0]?.engine.lastIndex(group))
    } finally {
      client.close()
    }
  })

  it('moves the groups of a host that stops to the others', async () => {
    const client = new HostClient(hosts)
    try {
      const leaders = await client.leadersAt(1)
      const victim = leaders.get(1) as number
      const led = [...leaders].filter(([, leader]) => leader === victim).map(([group]) => group)
      await servers[victim - 1]?.stop()
      servers[victim - 1] = undefined
      const answers = await Promise.all(led.map((group) => client.propose(group, Buffer.from('after'), 20_000)))
      expect(answers).toHaveLength(led.length)
      const survivor = hosts.find((host) => host.id !== victim)?.id as number
      const now = await client.leadersAt(survivor)
      for (const group of led) expect(now.get(group)).not.toBe(victim)
    } finally {
      client.close()
    }
  })
})
