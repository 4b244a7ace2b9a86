/**
 * Just enough of a Dockerfile reader for the tests that rebuild the image's file layout without a
 * container engine: stages, their instructions, and the handful of instructions a final stage may
 * hold. Anything the tests cannot reproduce is an error, so a Dockerfile change they do not
 * follow fails them instead of passing unnoticed.
 */

export interface Instruction {
  /** Upper case: FROM, RUN, COPY, ... */
  readonly keyword: string;
  /** The rest of the line, continuation lines joined with a space. */
  readonly args: string;
  readonly line: number;
}

export interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

export interface CopyInstruction {
  /** The stage copied from; undefined for the build context. */
  readonly from: string | undefined;
  readonly sources: readonly string[];
  readonly destination: string;
}

/** The final stage, as the tests lay it out. */
export interface FinalStage {
  readonly image: string;
  readonly workdir: string;
  readonly user: string;
  readonly env: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly exposed: readonly string[];
  readonly copies: readonly CopyInstruction[];
  /** Exec form only: an image without a shell cannot run the shell form. */
  readonly entrypoint: readonly string[];
}

export class DockerfileError extends Error {
  readonly code = 'unsupported-dockerfile';
  constructor(message: string) {
    super(message);
    this.name = 'DockerfileError';
  }
}

/** Split into stages; `ARG`s before the first `FROM` are substituted into `FROM` lines. */
export function parseDockerfile(text: string): Stage[] {
  const instructions = logicalLines(text);
  const globalArgs: Record<string, string> = {};
  const stages: { image: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((word) => !word.startsWith('--'));
      const [image, as, name] = words;
      if (image === undefined || (as !== undefined && (as.toUpperCase() !== 'AS' || name === undefined))) {
        throw new DockerfileError(`line ${instruction.line}: cannot read FROM ${instruction.args}`);
      }
      stages.push({ image: substitute(image, globalArgs), name, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== 'ARG') {
        throw new DockerfileError(`line ${instruction.line}: ${instruction.keyword} before FROM`);
      }
      Object.assign(globalArgs, assignments(instruction.args));
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

const FINAL_STAGE_KEYWORDS = new Set([
  'ARG',
  'LABEL',
  'ENV',
  'WORKDIR',
  'COPY',
  'USER',
  'EXPOSE',
  'ENTRYPOINT',
]);

/** Read the last stage; throw on any instruction the layout tests do not reproduce (RUN, CMD, ...). */
export function finalStage(stages: readonly Stage[]): FinalStage {
  const stage = stages.at(-1);
  if (stage === undefined) throw new DockerfileError('no FROM');
  const args: Record<string, string> = {};
  const env: Record<string, string> = {};
  const labels: Record<string, string> = {};
  const exposed: string[] = [];
  const copies: CopyInstruction[] = [];
  let workdir = '/';
  let user = '';
  let entrypoint: string[] | undefined;
  for (const { keyword, args: text, line } of stage.instructions) {
    if (!FINAL_STAGE_KEYWORDS.has(keyword)) {
      throw new DockerfileError(
        `line ${line}: the layout test does not reproduce ${keyword} in the final stage`,
      );
    }
    const expanded = substitute(text, { ...args, ...env });
    if (keyword === 'ARG') Object.assign(args, assignments(text));
    else if (keyword === 'ENV') Object.assign(env, assignments(expanded));
    else if (keyword === 'LABEL') Object.assign(labels, assignments(expanded));
    else if (keyword === 'WORKDIR') workdir = expanded.startsWith('/') ? expanded : `${workdir}/${expanded}`;
    else if (keyword === 'USER') user = expanded;
    else if (keyword === 'EXPOSE') exposed.push(...expanded.split(/\s+/));
    else if (keyword === 'COPY') copies.push(readCopy(expanded, line));
    else entrypoint = execForm(text, line);
  }
  if (entrypoint === undefined) throw new DockerfileError('the final stage has no ENTRYPOINT');
  return { image: stage.image, workdir, user, env, labels, exposed, copies, entrypoint };
}

function logicalLines(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { parts: string[]; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || (trimmed === '' && pending === undefined)) return;
    const continued = trimmed.endsWith('\\');
    const part = continued ? trimmed.slice(0, -1).trim() : trimmed;
    pending ??= { parts: [], line: index + 1 };
    if (part !== '') pending.parts.push(part);
    if (continued) return;
    const joined = pending.parts.join(' ');
    const match = /^(\S+)\s*(.*)$/.exec(joined);
    if (match?.[1] !== undefined) {
      out.push({ keyword: match[1].toUpperCase(), args: match[2] ?? '', line: pending.line });
    }
    pending = undefined;
  });
  return out;
}

/** `KEY=value KEY2="quoted value"` (and the legacy `ENV KEY value`). */
function assignments(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const pattern = /([A-Za-z0-9_.-]+)(?:=("(?:[^"\\]|\\.)*"|\S*))?/g;
  if (!text.includes('=')) {
    const [key, ...rest] = text.split(/\s+/);
    if (key !== undefined) out[key] = rest.join(' ');
    return out;
  }
  for (const match of text.matchAll(pattern)) {
    const [, key, value] = match;
    if (key === undefined) continue;
    out[key] = value?.startsWith('"') === true ? (JSON.parse(value) as string) : (value ?? '');
  }
  return out;
}

function substitute(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)/g, (whole, braced?: string, bare?: string) => {
    const value = values[braced ?? bare ?? ''];
    return value ?? whole;
  });
}

function readCopy(text: string, line: number): CopyInstruction {
  let from: string | undefined;
  let rest = text;
  for (let flag = /^(--\S+)\s*/.exec(rest); flag?.[1] !== undefined; flag = /^(--\S+)\s*/.exec(rest)) {
    const word = flag[1];
    if (word.startsWith('--from=')) from = word.slice('--from='.length);
    else if (!/^--(chown|chmod|link)(=|$)/.test(word)) {
      throw new DockerfileError(`line ${line}: COPY ${word} is not reproduced`);
    }
    rest = rest.slice(flag[0].length);
  }
  const paths = rest.startsWith('[') ? execForm(rest, line) : rest.split(/\s+/).filter((word) => word !== '');
  const destination = paths.pop();
  if (destination === undefined || paths.length === 0) {
    throw new DockerfileError(`line ${line}: COPY needs a source and a destination`);
  }
  return { from, sources: paths, destination };
}

function execForm(text: string, line: number): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (Array.isArray(parsed) && parsed.every((entry): entry is string => typeof entry === 'string')) {
    return parsed;
  }
  throw new DockerfileError(`line ${line}: use the exec form (a JSON array): ${text}`);
}
