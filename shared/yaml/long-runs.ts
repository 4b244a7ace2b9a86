import { EVENT_ID, SCALAR_STYLE, parseEvents, type Event } from 'js-yaml';

/**
 * A fast path for the long base64 values of a kubeconfig (certificate-authority-data, a token):
 * js-yaml's scanner looks at every character of a plain scalar one by one, and those two values
 * are nearly all of a kubeconfig's text. Each is cut short before the scan and the events the
 * scan gives are mapped back onto the whole text, so that every check after it and the values
 * built from the events read the text as it is.
 *
 * Why the events do not change: inside one line of a plain scalar, js-yaml treats each of these
 * characters alike (it advances; only `:`, `#`, flow indicators, blanks and line breaks stop it,
 * it refuses only non-printable characters, and none is in the set), and nothing follows a run on
 * its line, so no column moves. A cut keeps the run's first characters, so every fixed look-ahead
 * from where a token starts (at most 4 characters, for `---`) sees what it sees in the whole text. After the scan each cut must be found inside a one-line
 * plain scalar that ends where the run ends; otherwise (a quoted or block scalar, a comment, a
 * scalar over several lines, an error) the caller scans the whole text instead.
 */

/** Runs shorter than this are scanned as they are: cutting them saves less than it costs. */
export const MIN_RUN = 64;
/** Characters of a run kept in the shortened text. */
export const KEPT = 8;

/**
 * Where text was left out: at `at` in the shortened text, `removed` characters, and `before`, all
 * that was removed up to and including this cut.
 */
interface Cut {
  readonly at: number;
  readonly removed: number;
  readonly before: number;
}

export interface ShortenedText {
  readonly text: string;
  readonly cuts: readonly Cut[];
}

/**
 * From where a match starts, standard or URL-safe base64 and JWT dots (A-Z a-z 0-9 + / = - _ .)
 * up to the end of the line (LF, CRLF or the end of the text). Sticky, so it is tried at one
 * place only; a class search over the whole text would cost more than it saves.
 */
const RUN_TO_LINE_END = /[-A-Za-z0-9+/=_.]+(?=\r?\n|$)/y;

/**
 * The text with each long run of base64 characters that ends a line cut to its first `KEPT`, or
 * undefined when there is none. A run here is what follows the last space of a line of at least
 * `MIN_RUN` characters after it, as in `token: <value>` or `- <value>`, with something other than
 * blanks before that space: a run that is the first thing on its line is most often a line of a
 * block scalar or a further line of a plain one, which the fast path cannot take.
 */
export function shortenLongRuns(text: string): ShortenedText | undefined {
  let shortened = '';
  const cuts: Cut[] = [];
  let copied = 0;
  let removed = 0;
  for (let lineStart = 0; lineStart < text.length;) {
    let next = text.indexOf('\n', lineStart);
    if (next === -1) next = text.length;
    const lineEnd = text.charCodeAt(next - 1) === 13 ? next - 1 : next;
    if (lineEnd - lineStart > MIN_RUN) {
      const space = text.lastIndexOf(' ', lineEnd - 1);
      const runStart = space + 1;
      RUN_TO_LINE_END.lastIndex = runStart;
      if (
        space > lineStart &&
        lineEnd - runStart >= MIN_RUN &&
        hasTokenBefore(text, lineStart, space) &&
        RUN_TO_LINE_END.test(text) &&
        RUN_TO_LINE_END.lastIndex === lineEnd
      ) {
        const keepUntil = runStart + KEPT;
        shortened += text.slice(copied, keepUntil);
        copied = lineEnd;
        removed += lineEnd - keepUntil;
        cuts.push({ at: shortened.length, removed: lineEnd - keepUntil, before: removed });
      }
    }
    lineStart = next + 1;
  }
  if (cuts.length === 0) return undefined;
  return { text: shortened + text.slice(copied), cuts };
}

/** Whether the line holds anything but blanks before `end`; a lone CR is a line break to YAML. */
function hasTokenBefore(text: string, lineStart: number, end: number): boolean {
  for (let index = end - 1; index >= lineStart; index -= 1) {
    const code = text.charCodeAt(index);
    if (code === 13) return false;
    if (code !== 32 && code !== 9) return true;
  }
  return false;
}

/**
 * Map the events of the shortened text onto the whole text, in place. False when a cut is not
 * the end of a one-line plain scalar, or any other offset falls inside a run: then the events
 * may not be those of the whole text, and the caller must scan it.
 */
export function restoreLongRuns(events: Event[], cuts: readonly Cut[]): boolean {
  let found = 0;
  for (const event of events) {
    switch (event.type) {
      case EVENT_ID.SCALAR: {
        const cut = lastCutBefore(cuts, event.valueEnd + 1);
        const isRunEnd = cut !== undefined && cut.at === event.valueEnd;
        if (isRunEnd) {
          // Plain, on one line (`fast`), and starting at or before the run.
          const onRun = event.style === SCALAR_STYLE.PLAIN && event.fast;
          if (!onRun || event.valueStart > event.valueEnd - KEPT) return false;
          found += 1;
        }
        event.valueEnd = restore(event.valueEnd, cuts, isRunEnd);
        event.valueStart = restore(event.valueStart, cuts);
        event.anchorStart = restore(event.anchorStart, cuts);
        event.anchorEnd = restore(event.anchorEnd, cuts);
        event.tagStart = restore(event.tagStart, cuts);
        event.tagEnd = restore(event.tagEnd, cuts);
        if (
          Number.isNaN(event.valueStart) ||
          Number.isNaN(event.valueEnd) ||
          Number.isNaN(event.anchorStart + event.anchorEnd + event.tagStart + event.tagEnd)
        ) {
          return false;
        }
        break;
      }
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE:
        event.start = restore(event.start, cuts);
        event.anchorStart = restore(event.anchorStart, cuts);
        event.anchorEnd = restore(event.anchorEnd, cuts);
        event.tagStart = restore(event.tagStart, cuts);
        event.tagEnd = restore(event.tagEnd, cuts);
        if (Number.isNaN(event.start + event.anchorStart + event.anchorEnd + event.tagStart + event.tagEnd)) {
          return false;
        }
        break;
      case EVENT_ID.ALIAS:
        event.anchorStart = restore(event.anchorStart, cuts);
        event.anchorEnd = restore(event.anchorEnd, cuts);
        if (Number.isNaN(event.anchorStart + event.anchorEnd)) return false;
        break;
      case EVENT_ID.DOCUMENT:
      case EVENT_ID.POP:
        break;
    }
  }
  return found === cuts.length;
}

/**
 * An offset of the shortened text in the whole text: up to a run's first character it stays,
 * past the cut it moves by what was left out before it, and so does the cut itself when it is
 * the end of the run's scalar (`runEnd`). NaN for any other offset on the kept part of a run,
 * where the two texts differ; -1 (absent) stays -1.
 */
function restore(offset: number, cuts: readonly Cut[], runEnd = false): number {
  if (offset === -1) return -1;
  // Only the last cut whose kept part starts before the offset can hold it; all before it moved it.
  const cut = lastCutBefore(cuts, offset + KEPT);
  if (cut === undefined) return offset;
  if (offset < cut.at || (offset === cut.at && !runEnd)) return Number.NaN;
  return offset + cut.before;
}

/**
 * The last cut with `at` below `limit`, by binary search (cuts are in text order): a text of many
 * short lines may hold thousands of cuts, and every offset of every event is looked up.
 */
function lastCutBefore(cuts: readonly Cut[], limit: number): Cut | undefined {
  let low = 0;
  let high = cuts.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((cuts[middle]?.at ?? Infinity) < limit) low = middle + 1;
    else high = middle;
  }
  return cuts[low - 1];
}

/**
 * js-yaml's events for `text`, from a scan of the text with its long runs cut; undefined when
 * nothing is cut, or the shortened text does not give the whole text's events or fails to scan.
 * Then the caller scans the whole text, and whatever that scan refuses is refused as before.
 */
export function parseEventsCut(text: string, options: { readonly maxDepth: number }): Event[] | undefined {
  const shortened = shortenLongRuns(text);
  if (shortened === undefined) return undefined;
  let events: Event[];
  try {
    events = parseEvents(shortened.text, { maxDepth: options.maxDepth });
  } catch {
    return undefined;
  }
  return restoreLongRuns(events, shortened.cuts) ? events : undefined;
}
