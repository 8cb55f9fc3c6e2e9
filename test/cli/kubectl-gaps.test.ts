import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { CliContext } from "../../src/cli/context.ts";
import { runCli } from "../../src/cli/main.ts";
import { controlKinds } from "../../src/control/index.ts";
import { assertGolden, CliHarness, fixture, splitArgs } from "./harness.ts";

const h = new CliHarness();
after(() => h.cleanup());

before(async () => {
  assert.equal((await h.run("up")).code, 0);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);
});

async function ok(line: string): Promise<string> {
  const r = await h.run(line);
  assert.equal(r.code, 0, `${line}\n${r.err}`);
  return r.out;
}

test("seed 001: the node IP through a go-template and a !label selector", async () => {
  const r = await h.run(
    `kubectl get node --selector='!node-role.kubernetes.io/master' -o go-template='{{(index (index .items 0).status.addresses 1).address}}{{"\\n"}}'`,
  );
  assert.deepEqual(r, { code: 0, out: "node1\n", err: "" });
  // One object by name: the data is the object itself, not a List.
  assert.equal(await ok(`kubectl get node node2 -o go-template={{.metadata.name}}`), "node2");
  assert.equal(await ok("kubectl get nodes -o jsonpath={.items[*].metadata.name}"), "control node1 node2");
  assert.equal(
    await ok(
      `kubectl get nodes -o jsonpath='{.items[?(@.metadata.name=="node1")].status.addresses[0].address}'`,
    ),
    "198.19.0.2",
  );
});

test("get -o custom-columns, jsonpath ranges, and a template file", async () => {
  assertGolden(
    "kubectl-yaobank-custom-columns.txt",
    await ok(
      "kubectl get pods -n yaobank -o custom-columns=NAME:.metadata.name,IP:.status.podIP,NODE:.spec.nodeName",
    ),
  );
  const names = await ok(
    `kubectl get pods -n yaobank -l app=summary -o jsonpath='{range .items[*]}{.metadata.name}{"\\t"}{.spec.nodeName}{"\\n"}{end}'`,
  );
  assert.match(names, /^summary-\S+\t\S+\nsummary-\S+\t\S+\n$/);
  const dir = h.stateDir;
  writeFileSync(join(dir, "names.tmpl"), '{{range .items}}{{.metadata.name}}{{"\\n"}}{{end}}');
  writeFileSync(join(dir, "first.jsonpath"), "{.items[0].metadata.name}");
  writeFileSync(
    join(dir, "cols.txt"),
    "NAME   ROLE\n.metadata.name   {.metadata.labels.node-role\\.kubernetes\\.io/master}\n",
  );
  assert.equal(
    await ok(`kubectl get nodes -o go-template-file=${dir}/names.tmpl`),
    "control\nnode1\nnode2\n",
  );
  assert.equal(await ok(`kubectl get nodes -o jsonpath-file=${dir}/first.jsonpath`), "control");
  assert.equal(
    await ok(`kubectl get nodes -o custom-columns-file=${dir}/cols.txt`),
    "NAME      ROLE\ncontrol   true\nnode1     <none>\nnode2     <none>\n",
  );
  assert.equal(await ok("kubectl get nodes -o go-template --template={{.kind}}"), "List");
  assert.equal(await ok("kubectl get node node1 -o=jsonpath={.kind}"), "Node");
  assert.deepEqual(await h.run("kubectl get nodes -o go-template-file=/nonexistent.tmpl"), {
    code: 1,
    out: "",
    err: "error: error reading --template /nonexistent.tmpl, open /nonexistent.tmpl: no such file or directory\n",
  });
  assert.deepEqual(await h.run("kubectl get nodes -o go-template"), {
    code: 1,
    out: "",
    err: "error: template format specified but no template given\n",
  });
  assert.deepEqual(await h.run("kubectl get nodes -o custom-columns=NAME"), {
    code: 1,
    out: "",
    err: "error: unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>\n",
  });
  // No objects: the template runs on an empty List, and nothing is said about it.
  assert.deepEqual(await h.run("kubectl get pods -n default -o go-template='{{len .items}}'"), {
    code: 0,
    out: "0",
    err: "",
  });
});

test("template errors: kubectl's parse and execution messages, exit 1", async () => {
  assert.deepEqual(await h.run("kubectl get ns default -o go-template={{.a}"), {
    code: 1,
    out: "",
    err: "error: error parsing template {{.a}, template: output:1: bad character U+007D '}'\n",
  });
  const r = await h.run("kubectl get ns default -o go-template={{.metadata.name.x}}");
  assert.equal(r.code, 1);
  assert.equal(
    r.err,
    'error: error executing template "{{.metadata.name.x}}": template: output:1:11: executing "output" at <.metadata.name.x>: can\'t evaluate field x in type interface {}\n',
  );
  assert.match(
    r.out,
    /^Error executing template: template: output:1:11: .*\. Printing more information for debugging the template:\n\ttemplate was:\n\t\t\{\{\.metadata\.name\.x\}\}\n\traw data was:\n\t\t\{"apiVersion":"v1","kind":"Namespace",.*\n\tobject given to template engine was:\n\t\tmap\[apiVersion:v1 kind:Namespace .*\]\n\n$/,
  );
  const outOfBounds = await h.run("kubectl get ns -o jsonpath={.items[9]}");
  assert.deepEqual([outOfBounds.code, outOfBounds.out], [1, ""]);
  assert.match(
    outOfBounds.err,
    /^error: error executing jsonpath "\{\.items\[9\]\}": Error executing template: array index out of bounds: index 9, length 7\. Printing more information for debugging the template:\n\ttemplate was:\n\t\t\{\.items\[9\]\}\n\tobject given to jsonpath engine was:\n\t\tmap\[string\]interface \{\}\{"apiVersion":"v1", .*\}\n\n\n$/,
  );
  assert.deepEqual(await h.run("kubectl get ns -o jsonpath={.a"), {
    code: 1,
    out: "",
    err: "error: error parsing jsonpath {.a, unclosed action\n",
  });
  const bad = await h.run("kubectl get ns -o yamlish");
  assert.equal(bad.code, 2);
  assert.match(
    bad.err,
    /allowed formats are: custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml\n$/,
  );
});

test("get --show-labels: a LABELS column after the wide columns, k=v sorted, <none> when empty", async () => {
  assertGolden("kubectl-yaobank-show-labels.txt", await ok("kubectl get pods -n yaobank --show-labels"));
  assertGolden(
    "kubectl-yaobank-wide-show-labels.txt",
    await ok("kubectl get pods -n yaobank -o wide --show-labels"),
  );
  assertGolden("kubectl-svc-show-labels-all.txt", await ok("kubectl get svc -A --show-labels"));
  await ok("kubectl create serviceaccount plain -n yaobank");
  assert.equal(
    await ok("kubectl get sa plain -n yaobank --show-labels"),
    "NAME    SECRETS   AGE   LABELS\nplain   0         0s    <none>\n",
  );
  assert.equal(
    await ok("kubectl get ns yaobank --show-labels -L kubernetes.io/metadata.name --no-headers"),
    "yaobank   Active   0s    yaobank   istio-injection=disabled,kubernetes.io/metadata.name=yaobank\n",
  );
});

test("create namespace / serviceaccount / configmap, as kubectl prints them", async () => {
  assert.deepEqual(await h.run("kubectl create namespace dev"), {
    code: 0,
    out: "namespace/dev created\n",
    err: "",
  });
  assert.deepEqual(await h.run("kubectl create namespace dev"), {
    code: 1,
    out: "",
    err: 'Error from server (AlreadyExists): namespaces "dev" already exists\n',
  });
  assert.equal(await ok("kubectl create serviceaccount robot -n dev"), "serviceaccount/robot created\n");
  assert.equal(
    await ok("kubectl create configmap settings -n dev --from-literal=mode=fast --from-literal=level=3"),
    "configmap/settings created\n",
  );
  assert.equal(
    await ok("kubectl get configmap settings -n dev -o jsonpath={.data}"),
    '{"level":"3","mode":"fast"}',
  );
  assert.deepEqual(await h.run("kubectl create configmap x -n dev --from-literal=novalue"), {
    code: 1,
    out: "",
    err: "error: invalid literal source novalue, expected key=value\n",
  });
  assert.deepEqual(await h.run("kubectl create namespace a b"), {
    code: 1,
    out: "",
    err: "error: exactly one NAME is required, got 2\nSee 'kubectl create namespace -h' for help and examples\n",
  });
  assert.deepEqual(await h.run("kubectl create deployment web"), {
    code: 1,
    out: "",
    err: "error: not supported yet: kubectl create deployment\n",
  });
  assert.deepEqual(await h.run("kubectl create nonsense x"), {
    code: 1,
    out: "",
    err: "error: Unexpected args: [nonsense x]\nSee 'kubectl create -h' for help and examples\n",
  });
  assert.deepEqual(await h.run("kubectl create configmap bad -n dev --from-literal='bad key=1'"), {
    code: 1,
    out: "",
    err: `error: "bad key" is not a valid key name for a ConfigMap: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')\n`,
  });
  assert.match(
    (await h.run("kubectl create secret generic s")).err,
    /^error: not supported yet: kubectl create secret\n$/,
  );
});

test("delete --all: every object of the kind, in a namespace or with -A across all", async () => {
  for (const name of ["a", "b"])
    assert.equal(
      (
        await h.run(
          "kubectl apply -f -",
          `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: yaobank}\nspec: {podSelector: {}}\n`,
        )
      ).code,
      0,
    );
  assert.deepEqual(await h.run("kubectl delete networkpolicy a --all -n yaobank"), {
    code: 1,
    out: "",
    err: "error: name cannot be provided when a selector is specified\n",
  });
  assert.deepEqual(await h.run("kubectl delete networkpolicy --all -n yaobank"), {
    code: 0,
    out: 'networkpolicy.networking.k8s.io "a" deleted\nnetworkpolicy.networking.k8s.io "b" deleted\n',
    err: "",
  });
  assert.deepEqual(await h.run("kubectl delete networkpolicy --all -n yaobank"), {
    code: 0,
    out: "No resources found\n",
    err: "",
  });
  assert.deepEqual(await h.run("kubectl delete sa --all -l nothing=here"), {
    code: 1,
    out: "",
    err: "error: setting 'all' parameter but found a non empty selector. \n",
  });
  assert.deepEqual(await h.run("kubectl delete configmap --all-namespaces --all"), {
    code: 0,
    out: 'configmap "settings" deleted\nconfigmap "coredns" deleted\n',
    err: "",
  });
  assert.equal((await h.store().list(controlKinds.ConfigMap)).length, 0);
});

test("logs: --tail N, --tail=N, --tail -1, -l (10 by default), deploy/NAME", async () => {
  for (const path of ["/", "/a", "/b"]) await ok(`exec host1 -- curl 198.19.0.1:30180${path}`);
  const line = (path: string, code: number) =>
    `198.19.0.1 - - [02/Jan/2026 03:04:05] "GET ${path} HTTP/1.1" ${code} -\n`;
  const all = line("/", 200) + line("/a", 404) + line("/b", 404);
  const customer = (await h.store().list(controlKinds.Pod, "yaobank"))
    .map((p) => p.metadata.name!)
    .find((n) => n.startsWith("customer"))!;
  assert.equal(await ok(`kubectl logs ${customer} -n yaobank`), all);
  assert.equal(await ok(`kubectl logs ${customer} -n yaobank --tail 1`), line("/b", 404));
  assert.equal(await ok(`kubectl logs ${customer} -n yaobank --tail=2`), line("/a", 404) + line("/b", 404));
  assert.equal(await ok(`kubectl logs ${customer} -n yaobank --tail -1`), all);
  assert.equal(await ok(`kubectl logs ${customer} -n yaobank --tail=0`), "");
  assert.equal(await ok("kubectl logs -l app=customer -n yaobank"), all);
  assert.equal(await ok("kubectl logs deploy/customer -n yaobank --tail=1"), line("/b", 404));
  assert.equal(
    await ok("kubectl logs -l app=customer -n yaobank --prefix --tail 1"),
    `[pod/${customer}/customer] ${line("/b", 404)}`,
  );
  assert.deepEqual(await h.run("kubectl logs -l app=nothing -n yaobank"), {
    code: 0,
    out: "",
    err: "No resources found in yaobank namespace.\n",
  });
  const summary = await h.run("kubectl logs deploy/summary -n yaobank");
  assert.equal(summary.code, 0);
  assert.match(summary.err, /^Found 2 pods, using pod\/summary-\S+\n$/);
  assert.deepEqual(await h.run("kubectl logs nobody -n yaobank"), {
    code: 1,
    out: "",
    err: 'Error from server (NotFound): pods "nobody" not found\n',
  });
  assert.deepEqual(await h.run(`kubectl logs ${customer} -n yaobank -l app=customer`), {
    code: 2,
    out: "",
    err: "error: only a selector (-l) or a POD name is allowed\nSee 'kubectl logs -h' for help and examples\n",
  });
  assert.deepEqual(await h.run(`kubectl logs ${customer} -n yaobank -c nginx`), {
    code: 1,
    out: "",
    err: `error: container nginx is not valid for pod ${customer}\n`,
  });
  assert.deepEqual(await h.run(`kubectl logs ${customer} -n yaobank --tail -2`), {
    code: 2,
    out: "",
    err: "error: --tail must be greater than or equal to -1\n",
  });
  assert.deepEqual(await h.run("kubectl logs -f -l app=summary -n yaobank --max-log-requests=abc"), {
    code: 2,
    out: "",
    err: 'error: invalid argument "abc" for "--max-log-requests" flag: strconv.ParseInt: parsing "abc": invalid syntax\n',
  });
  // kubectl's words (logsForObject over polymorphichelpers.SelectorsForObject).
  assert.deepEqual(await h.run("kubectl logs svc/kubernetes"), {
    code: 1,
    out: "",
    err: "error: cannot get the logs from *v1.Service: invalid service 'kubernetes': Service is defined without a selector\n",
  });
  assert.deepEqual(await h.run("kubectl logs ns/yaobank"), {
    code: 1,
    out: "",
    err: "error: cannot get the logs from *v1.Namespace: selector for *v1.Namespace not implemented\n",
  });
});

test("logs -f in-process: prints the lines later commands make the app log, until aborted", async () => {
  let out = "";
  const abort = new AbortController();
  const ctx: CliContext = {
    out: (t) => {
      out += t;
    },
    err: () => undefined,
    now: () => h.now,
    stdin: () => "",
    store: () => h.store(),
    stateDir: h.stateDir,
    signal: abort.signal,
  };
  const before = (await ok("kubectl logs deploy/customer -n yaobank")).split("\n").length - 1;
  const running = runCli(splitArgs("kubectl logs -f deploy/customer -n yaobank --tail 0"), ctx);
  await ok("exec host1 -- curl 198.19.0.1:30180/followed");
  const deadline = Date.now() + 10_000;
  while (!out.includes("/followed") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  abort.abort();
  assert.equal(await running, 0);
  assert.equal(out, '198.19.0.1 - - [02/Jan/2026 03:04:05] "GET /followed HTTP/1.1" 404 -\n');
  // --tail 0 left out the lines the app had logged before.
  assert.ok(before > 0, "the app had logged nothing before, so --tail 0 was not exercised");
});

test("-f repeats and takes directories, as kubectl's does: every file is applied, none silently dropped", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tortie-manifests-"));
  try {
    const ns = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`;
    writeFileSync(join(dir, "b.yaml"), ns("multi-b"));
    writeFileSync(join(dir, "a.yml"), ns("multi-a"));
    writeFileSync(join(dir, "notes.txt"), "not a manifest");
    const single = join(dir, "c.json");
    writeFileSync(
      single,
      JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "multi-c" } }),
    );
    // Two -f flags: both files, in the order given (commander alone would keep only the last).
    assert.equal(
      await ok(`kubectl apply -f ${join(dir, "b.yaml")} -f ${single}`),
      "namespace/multi-b created\nnamespace/multi-c created\n",
    );
    // A directory: its .json/.yaml/.yml files in name order; other files are skipped.
    assert.equal(
      await ok(`kubectl apply -f ${dir}`),
      "namespace/multi-a created\nnamespace/multi-b unchanged\nnamespace/multi-c unchanged\n",
    );
    assert.equal(
      await ok(`kubectl delete -f ${dir}`),
      'namespace "multi-a" deleted\nnamespace "multi-b" deleted\nnamespace "multi-c" deleted\n',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
