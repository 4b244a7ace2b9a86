import type { DeliberateDifference } from './compare.ts';

/**
 * Where we refuse what istiod would use, on purpose, by violation. A stricter case passes only if
 * every one of our violations matches an entry; a misreading (say, our reader seeing an exec that
 * client-go does not) matches none and fails the test.
 */
export const DELIBERATE: readonly DeliberateDifference[] = [
  {
    code: 'ambiguous-yaml',
    message: /is not client-go's spelling of/,
    reason:
      'look-alike spellings of exec, tokenFile, client-key, client-certificate, auth-provider: other readers (client-node, case-insensitive decoders) honour them',
  },
  {
    code: 'ambiguous-yaml',
    message: /is read as "(?:apiVersion|kind)" by client-go's type check/,
    reason:
      'client-go finds apiVersion and kind case-insensitively; we refuse other spellings instead of guessing which key Go picks',
  },
  {
    code: 'ambiguous-yaml',
    message: /duplicate mapping key/,
    reason:
      'go-yaml keeps the last copy of a repeated key (and, after key conversion, an arbitrary one); we refuse rather than pick',
  },
  {
    code: 'ambiguous-yaml',
    message: /more than one YAML document/,
    reason: 'go-yaml reads only the first document; a kubeconfig is one document',
  },
  {
    code: 'ambiguous-yaml',
    message: /YAML directives/,
    reason: '%YAML and %TAG change how the readers resolve the rest, and they do not agree on how',
  },
  {
    code: 'ambiguous-yaml',
    message: /explicit tag/,
    reason: 'tags (!!str, !!binary, custom ones) are resolved differently by go-yaml v2 and YAML 1.2 readers',
  },
  {
    code: 'ambiguous-yaml',
    message: /merge keys/,
    reason: 'merge keys (<<) are YAML 1.1 only; go-yaml applies them, YAML 1.2 readers need not',
  },
  {
    code: 'ambiguous-yaml',
    message:
      /boolean in YAML 1\.1|number in one YAML version|timestamp|too large for client-go|\.inf or \.nan/,
    reason: 'plain scalars that YAML 1.1 (client-go) and YAML 1.2 resolve to different types or values',
  },
  {
    code: 'ambiguous-yaml',
    message: /integer mapping key between 2\^63 and 2\^64/,
    reason:
      'client-go cannot load an integer key above int64 (an unsigned integer sigs.k8s.io/yaml cannot turn into JSON); where a later copy of a duplicate key replaces the mapping that holds it, go-yaml drops it and istiod loads the rest: we refuse it, and the duplicate, all the same',
  },
  {
    code: 'ambiguous-yaml',
    message: /mapping key (?:this large )?becomes different text/,
    reason:
      "numbers as mapping keys: client-go turns them into text with float32 precision and Go's notation (1e+06), YAML 1.2 readers with JavaScript's, which also loses digits past 2^53; as-user-extra keys are sent as header names, so both must read the same text",
  },
  {
    code: 'ambiguous-yaml',
    message: /the character U\+/,
    reason:
      'NEL, LS, PS and a BOM after the start: go-yaml breaks lines at them (or refuses them) where YAML 1.2 does not',
  },
  {
    code: 'ambiguous-yaml',
    message: /in a flow collection client-go/,
    reason: 'inside {...} and [...] go-yaml takes "?" and ":" as indicators where YAML 1.2 reads text',
  },
  {
    code: 'ambiguous-yaml',
    message: /refuses a tab/,
    reason:
      'go-yaml refuses tabs at the start of a line and after -, ? and :, and this rule also catches tabs in block scalars that go-yaml accepts',
  },
  {
    code: 'ambiguous-yaml',
    message: /without a final newline/,
    reason:
      'a | or > block that ends the text without a line break: go-yaml drops the final line break, YAML 1.2 keeps it',
  },
  {
    code: 'ambiguous-yaml',
    message: /anchor names/,
    reason: 'go-yaml reads anchor names of letters, digits, - and _ only; YAML 1.2 allows more',
  },
  {
    code: 'ambiguous-yaml',
    message: /mapping key longer than 1024/,
    reason:
      'go-yaml refuses implicit keys over 1024 characters; we also refuse long explicit (?) keys, which it reads',
  },
  {
    code: 'ambiguous-yaml',
    message: /escape/,
    reason: 'escapes one reader knows and the other does not',
  },
  {
    code: 'yaml-syntax',
    reason:
      "text that YAML 1.2 (js-yaml, our parser) refuses and go-yaml v2 accepts: under-indented lines and tabs inside flow collections of a block document, text after a flow document, \\' escapes; we only accept what both can read",
  },
  {
    code: 'yaml-alias-limit',
    reason:
      'aliases that expand past our limit (a billion-laughs defence); go-yaml has its own, higher limits',
  },
  { code: 'yaml-too-deep', reason: 'nesting past our depth limit' },
  { code: 'input-too-large', reason: 'a kubeconfig larger than a Secret can hold' },
  {
    code: 'certificate-authority-file',
    reason:
      "a certificate-authority path: istiod opens it on its own disk and refuses the kubeconfig when it is missing, which the primary cannot know (a path in a Secret is almost always a laptop path copied by mistake); ours, not Istio's: --allow certificateAuthority lifts it",
  },
];
