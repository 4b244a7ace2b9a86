/**
 * `kubectl remote-secret completion bash|zsh`: yargs' completion scripts, written out for the
 * plugin's executable name. yargs' own `.completion()` names the shell function after `$0`, which
 * here is "kubectl remote-secret" (no valid function name), and picks the shell from $SHELL; so
 * the two templates are adapted from yargs' and the shell is an argument, as in `kubectl completion`.
 * Both ask the plugin itself for the words, through yargs' `--get-yargs-completions`.
 */
export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

const EXECUTABLE = 'kubectl-remote_secret';

const KUBECTL_NOTE = `# This completes \`${EXECUTABLE} ...\`. For \`kubectl remote-secret ...\`, kubectl 1.26 and later
# run kubectl_complete-remote_secret from PATH; it ships next to ${EXECUTABLE} (docs/packaging.md).`;

// $SHELL is set for each run: yargs formats the words for the shell it reads from there, and a
// bash started from a zsh login still has SHELL=/bin/zsh.
const BASH = `###-begin-${EXECUTABLE}-completions-###
#
# ${EXECUTABLE} completion script for bash (yargs).
#
# Install: kubectl remote-secret completion bash > ~/.local/share/bash-completion/completions/${EXECUTABLE}
#      or: echo 'source <(kubectl remote-secret completion bash)' >> ~/.bashrc
#
${KUBECTL_NOTE}
#
_kubectl_remote_secret_completions()
{
    local cur_word args type_list

    cur_word="\${COMP_WORDS[COMP_CWORD]}"
    args=("\${COMP_WORDS[@]}")

    mapfile -t type_list < <(SHELL=bash ${EXECUTABLE} --get-yargs-completions "\${args[@]}")
    mapfile -t COMPREPLY < <(compgen -W "$( printf '%q ' "\${type_list[@]}" )" -- "\${cur_word}" |
        awk '/ / { print "\\""$0"\\"" } /^[^ ]+$/ { print $0 }')

    # No match: fall back to file names (-o default below).
    if [ \${#COMPREPLY[@]} -eq 0 ]; then
      COMPREPLY=()
    fi

    return 0
}
complete -o bashdefault -o default -F _kubectl_remote_secret_completions ${EXECUTABLE}
###-end-${EXECUTABLE}-completions-###
`;

const ZSH = `#compdef ${EXECUTABLE}
###-begin-${EXECUTABLE}-completions-###
#
# ${EXECUTABLE} completion script for zsh (yargs).
#
# Install: kubectl remote-secret completion zsh > "\${fpath[1]}/_${EXECUTABLE}"
#      or: echo 'source <(kubectl remote-secret completion zsh)' >> ~/.zshrc
#
${KUBECTL_NOTE}
#
_kubectl_remote_secret_completions()
{
  local reply
  local si=$IFS
  IFS=$'\\n' reply=($(COMP_CWORD="$((CURRENT-1))" COMP_LINE="$BUFFER" COMP_POINT="$CURSOR" SHELL=zsh ${EXECUTABLE} --get-yargs-completions "\${words[@]}"))
  IFS=$si
  if [[ \${#reply} -gt 0 ]]; then
    _describe 'values' reply
  else
    _default
  fi
}
if [[ "\${zsh_eval_context[-1]}" == "loadautofunc" ]]; then
  _kubectl_remote_secret_completions "$@"
else
  compdef _kubectl_remote_secret_completions ${EXECUTABLE}
fi
###-end-${EXECUTABLE}-completions-###
`;

export function completionScript(shell: CompletionShell): string {
  return shell === 'bash' ? BASH : ZSH;
}

/** What completion may ask the operator's clusters; errors mean "nothing to offer". */
export interface CompletionLookup {
  contexts(kubeconfig: string | undefined): Promise<readonly string[]>;
  namespaces(kubeconfig: string | undefined, context: string | undefined): Promise<readonly string[]>;
}

/** Flags whose value is a context of the kubeconfig named by the other flag. */
const CONTEXT_FLAGS = new Map([
  ['--context', '--kubeconfig'],
  ['--primary-context', '--primary-kubeconfig'],
]);
/** Flags whose value is a namespace of the cluster the command talks to (create: the remote). */
const NAMESPACE_FLAGS = new Set(['-n', '--namespace', '-i', '--istio-namespace']);

/**
 * The words to offer for `words` (as the shell hands them: the program, then what was typed,
 * the last being the word under the cursor), given yargs' own candidates. Contexts and
 * namespaces come from the operator's kubeconfig and cluster; yargs' candidates lose the
 * one-letter aliases it spells with two dashes (`--n`), which no parser accepts.
 */
export async function completeWords(
  words: readonly string[],
  candidates: readonly string[],
  lookup: CompletionLookup,
  shell: { readonly zsh: boolean } = { zsh: false },
): Promise<string[]> {
  const current = words.at(-1) ?? '';
  const previous = words.at(-2) ?? '';
  const flag = (name: string): string | undefined => flagValue(words.slice(0, -1), name);
  const kubeconfigFlag = CONTEXT_FLAGS.get(previous);
  let values: readonly string[] | undefined;
  try {
    if (kubeconfigFlag !== undefined) {
      values = await lookup.contexts(
        flag(kubeconfigFlag) ?? (kubeconfigFlag === '--kubeconfig' ? flag('-c') : undefined),
      );
    } else if (NAMESPACE_FLAGS.has(previous)) {
      values = await lookup.namespaces(flag('--kubeconfig') ?? flag('-c'), flag('--context'));
    }
  } catch {
    values = []; // completion never prints an error; the command itself will say what is wrong
  }
  if (values !== undefined) {
    const matching = values.filter((value) => value.startsWith(current));
    // zsh's _describe reads "word:description"; a colon in a name (an EKS ARN) is escaped.
    return shell.zsh ? matching.map((value) => value.replaceAll(':', '\\:')) : matching;
  }
  return candidates.filter((candidate) => !/^--[^-:\t](?:$|[:\t])/.test(candidate));
}

/** The value given to `name` in `words` (`--name value` or `--name=value`), the last one wins. */
function flagValue(words: readonly string[], name: string): string | undefined {
  let found: string | undefined;
  for (const [index, word] of words.entries()) {
    if (word === name) found = words[index + 1];
    else if (word.startsWith(`${name}=`)) found = word.slice(name.length + 1);
  }
  return found;
}
