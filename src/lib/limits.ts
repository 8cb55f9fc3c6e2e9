/**
 * Input limits: every bound tortie puts on what a user can hand it (manifests, patches, selectors), in one
 * place. Where the Kubernetes API server has a limit, tortie uses the same value and words; where it has none
 * (or relies on Go's growable stacks), tortie's own value is chosen to keep a command bounded in time and
 * memory, and says so here.
 */

/**
 * The API server refuses a request body over 3 MiB: k8s.io/apiserver/pkg/server/config.go,
 * `MaxRequestBodyBytes: int64(3 * 1024 * 1024)`, answered with `errors.NewRequestEntityTooLargeError(
 * fmt.Sprintf("limit is %d", limit))`. kubectl sends one request per object, so tortie applies it to each
 * object of a manifest (as JSON, which is what kubectl sends) and to each patch.
 */
export const MAX_REQUEST_BYTES = 3 * 1024 * 1024;

/** The API server's words for a body over `MAX_REQUEST_BYTES` (apimachinery's NewRequestEntityTooLargeError). */
export function requestTooLargeMessage(): string {
  return `Request entity too large: limit is ${MAX_REQUEST_BYTES}`;
}

/**
 * tortie's own bound on one `-f` input (a file or stdin): kubectl has none, but a manifest is read whole
 * before it is parsed, so `-f /dev/zero` must stop somewhere; reading stops one byte past it. 16 MiB holds
 * five objects at the request limit or thousands of ordinary ones (Calico's operator-crds.yaml is 3.4 MiB), and
 * the yaml package parses even its slowest 16 MiB (blank lines) in about 20 s.
 */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export function manifestTooLargeMessage(): string {
  return `the input is larger than the limit of ${MAX_MANIFEST_BYTES} bytes`;
}

/**
 * tortie's own bound on the documents of one manifest (`---` separated, empty ones included): 5 million
 * empty documents would otherwise cost minutes of parsing for nothing.
 */
export const MAX_MANIFEST_DOCUMENTS = 10_000;

/**
 * Nesting depth of a decoded document or patch (mappings and sequences). Go's encoding/json, which the API
 * server decodes with, stops at 10000 (`maxNestingDepth`, "exceeded max depth"). tortie's decoders, like
 * most of JavaScript, recurse on the JS stack, and the yaml package's composer overflows it near 700 levels
 * of flow collections, so tortie stops at 100. Kubernetes' and Calico's kinds nest fewer than 20 levels.
 */
export const MAX_NESTING_DEPTH = 100;

/**
 * Aliases a YAML document may expand (billion laughs, CVE-2019-11253). go-yaml v2.2.4+ allows 400,000
 * alias-driven decodes scaled by document size; the yaml package's `maxAliasCount` counts expansions of
 * each alias node, and 100 is its default.
 */
export const MAX_YAML_ALIAS_COUNT = 100;

/**
 * A YAML document's aliases times its nodes. The yaml package finds an alias's anchor by scanning the
 * document's anchors and aliases, and, for an alias inside an aliased collection, by walking the whole
 * document: 20,000 scalar anchors and their aliases (700 KB) took 30 s, 1,000 aliases in a 200,000-node
 * document 18 s. tortie's own bound (go-yaml has none) keeps that work near a second; a document without
 * aliases, however large, is not affected.
 */
export const MAX_YAML_ALIAS_WORK = 10_000_000;

/**
 * Operations in one JSON patch: k8s.io/apiserver/pkg/endpoints/handlers/patch.go, `maxJSONPatchOperations =
 * 10000`, "The allowed maximum operations in a JSON patch is %d, got %d".
 */
export const MAX_JSON_PATCH_OPERATIONS = 10_000;

/**
 * Bytes a JSON patch's `copy` operations may add in all (each counted as its value's JSON): the API server
 * sets evanphx/json-patch's `AccumulatedCopySizeLimit` to `JSONPatchMaxCopyBytes`, 3 MiB (server/config.go),
 * so forty copies that each double a field cannot grow an object to gigabytes.
 */
export const MAX_JSON_PATCH_COPY_BYTES = 3 * 1024 * 1024;

/**
 * Parenthesis nesting of a Calico selector. libcalico-go's parser has no limit (Go stacks grow); tortie's
 * recursive-descent parser and evaluator use the JS stack, so nesting stops at 100 levels.
 */
export const MAX_SELECTOR_DEPTH = 100;

/**
 * `ping -c N` on the sim dataplane: iputils accepts 1..2^63-1 and sends one echo a second; the sim sends
 * them all at once in virtual time, so it stops at 10,000 (about a second of work) and says so.
 */
export const MAX_SIM_PING_COUNT = 10_000;

/**
 * Standard input of one `kubectl exec -i` (pods/exec). The kubelet streams stdin to the process; tortie's
 * commands take it whole, so it is gathered in memory before the command runs. It stops at the manifest bound:
 * past it (or near 512 MiB, V8's longest string) gathering would cost the server its memory or crash it.
 */
export const MAX_EXEC_STDIN_BYTES = MAX_MANIFEST_BYTES;
