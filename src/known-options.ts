// Options objects of the public API are checked for names they do not know: in JavaScript a typo
// (`segmentsize` for `segmentSize`) would otherwise be ignored and the default used, silently.
import { RaftLogError } from './errors.js'

/**
 * Refuses an option of `options` that `known` does not name (an option set to undefined is left
 * alone, as it is absent): ERR_BAD_ARGUMENT naming it and the options known. `known` is written
 * `{ name: true, … } satisfies Record<keyof Options, true>`, so it cannot fall behind the type.
 */
export function refuseUnknownOptions(options: object, known: Readonly<Record<string, true>>, method: string): void {
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined || Object.hasOwn(known, name)) continue
    const names = Object.keys(known)
    const near = names.find((candidate) => candidate.toLowerCase() === name.toLowerCase())
    throw new RaftLogError('ERR_BAD_ARGUMENT', `${method}: unknown option ${JSON.stringify(name)}${near === undefined ? '' : ` (did you mean ${near}?)`}; the options are ${names.join(', ')}`, { argument: `options.${name}` })
  }
}
