// Reads the Prometheus text format as a scraper does, for tests of /metrics.

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Every sample of a metrics page (comments and blank lines skipped). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`Not a Prometheus sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] as string] = pair[2] as string
    const raw = match[3] as string
    samples.push({ name: match[1] as string, labels, value: raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw) })
  }
  return samples
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when there is none. */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value))
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`)
  return found[0]?.value
}

/** GET `url`: status and body; a refused connection is status 0. */
export async function get(url: string): Promise<{ status: number; body: string }> {
  try {
    const response = await fetch(url)
    return { status: response.status, body: await response.text() }
  } catch {
    return { status: 0, body: '' }
  }
}

/** The parsed metrics of the node whose metrics port is `port`. */
export async function scrape(port: number): Promise<Sample[]> {
  const { status, body } = await get(`http://127.0.0.1:${port}/metrics`)
  if (status !== 200) throw new Error(`/metrics on port ${port} answered ${status}: ${body}`)
  return parseMetrics(body)
}
