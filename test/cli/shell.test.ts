import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, test } from "node:test";
import type { CliContext } from "../../src/cli/context.ts";
import { textLines } from "../../src/cli/line-source.ts";
import { runShell } from "../../src/cli/shell.ts";
import { controlKinds } from "../../src/control/index.ts";
import { CliHarness, fixture } from "./harness.ts";

const h = new CliHarness();
after(() => h.cleanup());
let customer = "";

before(async () => {
  assert.equal((await h.run("up")).code, 0);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);
  customer = (await h.store().list(controlKinds.Pod, "yaobank"))
    .map((p) => p.metadata.name!)
    .find((n) => n.startsWith("customer"))!;
});

/** A shell on a terminal: the transcript shows each prompt and the line typed after it. */
async function terminal(
  target: string,
  typed: string,
): Promise<{ code: number; screen: string; err: string }> {
  let screen = "";
  let err = "";
  const ctx: CliContext = {
    out: (t) => {
      screen += t;
    },
    err: (t) => {
      err += t;
    },
    now: () => h.now,
    stdin: () => "",
    lines: () => source,
    store: () => h.store(),
    stateDir: h.stateDir,
  };
  const source = textLines(typed, true, ctx.out);
  const code = await runShell(ctx, target);
  return { code, screen, err };
}

test("seed 004's lines in a host shell: sudo, pipes to grep -E / grep / wc -l, kubectl; no prompt from a pipe", async () => {
  const listing = (await h.run("exec node1 -- iptables -v --numeric --table nat --list KUBE-SERVICES")).out;
  const summary = listing
    .split("\n")
    .filter((l) => /summary/.test(l))
    .map((l) => `${l}\n`)
    .join("");
  assert.ok(summary.length > 0);
  const r = await h.run(
    "shell node1",
    [
      "sudo iptables -v --numeric --table nat --list KUBE-SERVICES | grep -E summary",
      "sudo iptables -v --numeric --table nat --list KUBE-SERVICES | grep KUBE-NODEPORTS | wc -l",
      "kubectl get pods -n yaobank -o wide | grep customer | wc -l",
      "ip rule | head -n 1",
      "ip rule | tail -1",
      "",
      "# a comment",
    ].join("\n"),
  );
  assert.equal(r.err, "");
  assert.equal(r.code, 0);
  assert.equal(r.out, `${summary}1\n1\n0:\tfrom all lookup local\n32767:\tfrom all lookup default\n`);
});

test("seed 002: kubectl exec -it $CUSTOMER_POD -c customer -- /bin/bash, then curl | python -m json.tool inside", async () => {
  const r = await terminal(
    "node1",
    [
      `CUSTOMER_POD=${customer}`,
      "kubectl exec -it $CUSTOMER_POD -n yaobank -c customer -- /bin/bash",
      "curl http://database:2379/v2/keys?recursive=true | python -m json.tool | head -4",
      "kubectl get pods",
      "exit",
      "echo back on $HOSTNAME_UNSET the host",
    ].join("\n"),
  );
  // bash exits with its last command's status (127), which the real kubectl reports after the session.
  assert.equal(r.err, "bash: kubectl: command not found\ncommand terminated with exit code 127\n");
  assert.equal(
    r.screen,
    [
      `ubuntu@node1:~$ CUSTOMER_POD=${customer}`,
      `ubuntu@node1:~$ kubectl exec -it $CUSTOMER_POD -n yaobank -c customer -- /bin/bash`,
      `root@${customer}:/# curl http://database:2379/v2/keys?recursive=true | python -m json.tool | head -4`,
      "{",
      '    "action": "get",',
      '    "node": {',
      '        "dir": true,',
      `root@${customer}:/# kubectl get pods`,
      `root@${customer}:/# exit`,
      "ubuntu@node1:~$ echo back on $HOSTNAME_UNSET the host",
      "back on the host",
      // Ctrl-D (the end of input) at the prompt: bash says exit.
      "ubuntu@node1:~$ exit",
      "",
    ].join("\n"),
  );
  assert.equal(r.code, 0);
});

test("exit codes, && / ||, ssh to another host, and what the shell does not do said plainly", async () => {
  const r = await h.run(
    "shell node1",
    [
      "curl --connect-timeout 1 198.19.0.99:80 || echo unreachable",
      "echo $?",
      "ip rule > rules.txt",
      "ip rule | sort",
      "ip rule | | wc -l",
      "echo $USER@$HOSTNAME $HOME",
      "ssh node2",
      "ip rule | grep -c main && echo on node2",
      "exit 3",
      "echo $?",
      "exit 5",
      "echo never",
    ].join("\n"),
  );
  assert.equal(r.code, 5);
  // The login's environment is the emulated host's, never the machine tortie runs on.
  assert.equal(r.out, "unreachable\n0\nubuntu@node1 /home/ubuntu\n1\non node2\n3\n");
  assert.match(r.err, /^curl: \(\d+\) Failed to connect to 198\.19\.0\.99 port 80 /m);
  assert.match(r.err, /^tortie shell: not supported yet: redirection \(>\)$/m);
  assert.match(r.err, /^tortie shell: not supported yet: sort in a pipe/m);
  assert.match(r.err, /^tortie shell: syntax error near unexpected token `\|'$/m);
});

test("tortie shell / exec -- bash: bad targets and usage, and a pod shell's prompt", async () => {
  const none = await h.run("shell node9");
  assert.equal(none.code, 1);
  assert.equal(none.err, "error: no host named node9 in this cluster\n");
  const pod = await h.run("shell yaobank/nope", "ip r\n");
  assert.equal(pod.err, 'error: pods "nope" not found in namespace yaobank (or it is not running)\n');
  const usage = await h.run("shell");
  assert.equal(usage.code, 2);
  assert.equal(usage.err, "error: usage: tortie shell TARGET\n");
  const viaExec = await h.run(`exec yaobank/${customer} -- bash`, "ip rule | wc -l\nexit 7\n");
  assert.deepEqual([viaExec.code, viaExec.out], [7, "3\n"]);
  const kubectl = await h.run(`kubectl exec -it ${customer} -n yaobank -- sh`, "ip rule | grep -c main\n");
  assert.deepEqual([kubectl.code, kubectl.out], [0, "1\n"]);
  const oneLine = await h.run(
    `kubectl exec ${customer} -n yaobank -- /bin/sh -c "ip rule | grep -E 'local|main' | wc -l"`,
  );
  assert.deepEqual([oneLine.code, oneLine.out], [0, "2\n"]);
  const noKubectl = await h.run(`kubectl exec ${customer} -n yaobank -- kubectl get pods`);
  assert.deepEqual(
    [noKubectl.code, noKubectl.err],
    [1, 'error: exec: "kubectl": executable file not found in $PATH\n'],
  );
  const notShell = await h.run("exec node1 -- bash -x");
  assert.equal(notShell.err, "not supported yet: bash on the sim dataplane\n");
  const prompt = await terminal(`yaobank/${customer}`, "exit 0\n");
  assert.equal(prompt.screen, `root@${customer}:/# exit 0\n`);
  const help = await h.run("");
  assert.match(help.out, /^ {2}exec {2,}exec TARGET -- COMMAND/m);
  assert.match(help.out, /^ {2}shell {2,}shell TARGET/m);
  assert.doesNotMatch(help.out, /not supported yet: tortie shell/);
});

test("bin/tortie shell reads standard input when it is not a terminal", () => {
  const bin = new URL("../../bin/tortie", import.meta.url).pathname;
  const r = spawnSync(bin, ["--state-dir", h.stateDir, "shell", "node1"], {
    input: "ip rule | grep -E 'main|default'\nexit 4\nip rule\n",
    encoding: "utf8",
    env: { ...process.env, TORTIE_NOW: h.now.toISOString() },
    timeout: 60_000,
  });
  assert.equal(r.stderr, "");
  assert.equal(r.stdout, "32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n");
  assert.equal(r.status, 4);
});
