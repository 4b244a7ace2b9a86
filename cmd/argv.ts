/**
 * Short options that take a value (`-o json`), in every command that has them, and the ones
 * that do not (`-A`, `-h`). Kept next to `main`'s yargs configuration; a CLI test runs each.
 */
export const SHORT_WITH_VALUE: ReadonlySet<string> = new Set(['o', 'n', 'c', 'i', 'f']);
export const SHORT_BOOLEAN: ReadonlySet<string> = new Set(['A', 'h']);
/** Repeatable long options whose value may be `-` (standard input), which yargs would drop. */
export const LONG_WITH_STDIN: ReadonlySet<string> = new Set(['--audit-log']);

/**
 * Rewrite kubectl's attached short options into the form yargs reads, as pflag parses them: in
 * `-ojson`, `-nistio-system`, `-n=istio-system` and `-Aojson` the first letter that takes a
 * value takes the rest of the word (an `=` right after it is dropped), and the letters before it
 * are boolean options. yargs alone reads `-ojson` as `-o -j -s -o -n`. Words after `--`, long
 * options, `-` (standard input) and words yargs reads as they are (`-o`, `-A`) are left alone, as
 * is a word that is the value of the option before it (`-f -ojson` names a file).
 */
export function normalizeShortFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  let valueNext = false;
  for (const [index, word] of argv.entries()) {
    if (valueNext) {
      out.push(word);
      valueNext = false;
    } else if (word === '-' && LONG_WITH_STDIN.has(out.at(-1) ?? '')) {
      // `--audit-log -` as `--audit-log=-`: an array option in yargs takes no lone `-`.
      out.push(`${out.pop() ?? ''}=-`);
    } else if (word === '--') {
      out.push(...argv.slice(index));
      break;
    } else if (isShortGroup(word)) {
      const expanded = expandGroup(word);
      out.push(...expanded);
      valueNext = takesValue(expanded.at(-1) ?? '');
    } else {
      out.push(word);
      valueNext = takesValue(word);
    }
  }
  return out;
}

/** `-xyz`: one dash and at least two letters (not `-`, not `--long`). */
function isShortGroup(word: string): boolean {
  return word.length > 2 && word.startsWith('-') && !word.startsWith('--');
}

/** `-o`: the next word is its value. */
function takesValue(word: string): boolean {
  return word.length === 2 && word.startsWith('-') && SHORT_WITH_VALUE.has(word.charAt(1));
}

function expandGroup(word: string): string[] {
  const letters = word.slice(1);
  const out: string[] = [];
  for (let at = 0; at < letters.length; at += 1) {
    const letter = letters.charAt(at);
    if (SHORT_WITH_VALUE.has(letter)) {
      const rest = letters.slice(at + 1);
      const value = rest.startsWith('=') ? rest.slice(1) : rest;
      // `-o` at the end of a group takes the next word; otherwise the rest is its value.
      out.push(rest === '' ? `-${letter}` : `-${letter}=${value}`);
      return out;
    }
    if (!SHORT_BOOLEAN.has(letter)) return [word]; // not ours to read: yargs says what is wrong
    out.push(`-${letter}`);
  }
  return out;
}
