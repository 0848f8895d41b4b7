// The tree's rules, checked on the source: a folder imports only folders below it, no file or
// folder imports itself back through others, the consensus core touches no disk, socket, timer or
// clock, and a program that only talks to a cluster never loads the native addon.
import { describe, expect, it } from 'vitest'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const src = resolve(import.meta.dirname, '..', 'src')

/**
 * Layers from the bottom: a file may import its own folder and any folder of a lower layer.
 * The public entries (index.ts files) gather names from anywhere and are left out.
 */
const layers: string[][] = [
  ['errors.ts', 'package-root.ts', 'known-options.ts', 'timer-limit.ts'],
  ['storage'],
  ['engine'],
  ['raft/core'],
  ['raft', 'raft/node'],
  ['host'],
  ['session'],
  ['net/config', 'net/transport', 'net/tls', 'net'],
  ['net/client', 'net/server'],
  ['kv'],
  ['verify'],
  ['testing'],
  ['observe'],
  ['cli'],
]
const entries = new Set(['index.ts', 'net-entry.ts', 'testing/index.ts'])

function sourceFiles(dir = src): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return name.endsWith('.ts') ? [relative(src, path)] : []
  })
}

/** Relative specifiers a file imports (static, dynamic and re-exports), as paths under src. */
function importsOf(file: string, runtimeOnly = false): string[] {
  const text = readFileSync(join(src, file), 'utf8')
  const found: string[] = []
  for (const match of text.matchAll(/(import\s+type\s[^;]*?|export\s+type\s[^;]*?)?(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    // `import type` is erased when compiled: it loads nothing.
    if (runtimeOnly && match[1] !== undefined) continue
    found.push(relative(src, resolve(src, dirname(file), (match[2] as string).replace(/\.js$/, '.ts'))))
  }
  return found
}

/** The folder (or root file) a file belongs to, as `layers` names them. */
function folderOf(file: string): string {
  const parts = file.split('/')
  if (parts.length === 1) return file
  const sub = parts.slice(0, 2).join('/')
  return layers.some((layer) => layer.includes(sub)) && parts.length > 2 ? sub : (parts[0] as string)
}

function layerOf(folder: string): number {
  const index = layers.findIndex((layer) => layer.includes(folder))
  if (index === -1) throw new Error(`${folder} is in no layer: add it to test/architecture.test.ts`)
  return index
}

const files = sourceFiles()
const graph = new Map(files.map((file) => [file, importsOf(file)]))

/** A cycle through `start` in `edges`, as a path, or undefined. */
function cycleFrom(start: string, edges: Map<string, Set<string>>): string[] | undefined {
  const stack: string[] = []
  const seen = new Set<string>()
  const visit = (node: string): string[] | undefined => {
    if (node === start && stack.length > 0) return [...stack, node]
    if (seen.has(node)) return undefined
    seen.add(node)
    stack.push(node)
    for (const next of edges.get(node) ?? []) {
      const found = visit(next)
      if (found !== undefined) return found
    }
    stack.pop()
    return undefined
  }
  return visit(start)
}

describe('the source tree', () => {
  it('every folder imports only itself and folders below it', () => {
    const wrong: string[] = []
    for (const [file, imports] of graph) {
      if (entries.has(file)) continue
      const from = folderOf(file)
      for (const target of imports) {
        const to = folderOf(target)
        if (from !== to && layerOf(to) > layerOf(from)) wrong.push(`${file} imports ${target} (${from} is below ${to})`)
      }
    }
    expect(wrong).toEqual([])
  })

  it('has no import cycle between files, nor between folders', () => {
    const fileEdges = new Map([...graph].map(([file, imports]) => [file, new Set(imports)]))
    const fileCycles = files.map((file) => cycleFrom(file, fileEdges)).filter((cycle) => cycle !== undefined)
    expect(fileCycles.map((cycle) => cycle.join(' → '))).toEqual([])
    const folderEdges = new Map<string, Set<string>>()
    for (const [file, imports] of graph) {
      if (entries.has(file)) continue
      for (const target of imports) {
        const [from, to] = [folderOf(file), folderOf(target)]
        if (from !== to) folderEdges.set(from, (folderEdges.get(from) ?? new Set()).add(to))
      }
    }
    const folderCycles = [...folderEdges.keys()].map((folder) => cycleFrom(folder, folderEdges)).filter((cycle) => cycle !== undefined)
    expect(folderCycles.map((cycle) => cycle.join(' → '))).toEqual([])
  })

  it('keeps the consensus core pure: no node:* module, no I/O folder, no timer, clock or randomness of its own', () => {
    const impure: string[] = []
    for (const file of files.filter((name) => name.startsWith('raft/core/'))) {
      const text = readFileSync(join(src, file), 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')
      if (/from\s+['"]node:/.test(text) || /import\(\s*['"]node:/.test(text)) impure.push(`${file}: imports a node:* module`)
      for (const target of graph.get(file) ?? []) {
        if (!target.startsWith('raft/core/') && target !== 'errors.ts' && target !== 'storage/log-entry.ts') impure.push(`${file}: imports ${target}`)
      }
      for (const call of ['setTimeout', 'setInterval', 'setImmediate', 'Date.now', 'new Date', 'performance.now', 'Math.random', 'process.']) {
        if (text.includes(call)) impure.push(`${file}: uses ${call}`)
      }
    }
    expect(impure).toEqual([])
  })

  it('lets a program that only talks to a cluster load without the native addon', () => {
    const closure = new Set<string>()
    const walk = (file: string): void => {
      if (closure.has(file)) return
      closure.add(file)
      for (const target of importsOf(file, true)) walk(target)
    }
    walk('net/client/cluster-client.ts')
    walk('kv/kv-client.ts')
    expect([...closure].filter((file) => file === 'storage/native.ts')).toEqual([])
  })
})

describe('the error codes', () => {
  it('lists every code the source throws, and the README has a row for each', async () => {
    const { errorCodes } = await import('../src/errors.js')
    const listed = new Set(Object.keys(errorCodes))
    const thrown = new Set(files.flatMap((file) => [...readFileSync(join(src, file), 'utf8').matchAll(/\bERR_[A-Z][A-Z_0-9]+/g)].map((match) => match[0])))
    expect([...thrown].filter((code) => !listed.has(code))).toEqual([])
    const readme = readFileSync(resolve(src, '..', 'README.md'), 'utf8')
    expect([...listed].filter((code) => !readme.includes(`| \`${code}\` |`))).toEqual([])
  })
})
