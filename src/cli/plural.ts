/** "1 segment", "2 segments": a count and its noun, in the plural unless the count is one. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`
}
