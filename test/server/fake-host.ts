import { type ApiObject, resolveKubectlResource } from "../../src/api/index.ts";
import type { CommandIO, PodExecRequest, PodLogRequest, ServerHost } from "../../src/server/index.ts";
import { MemoryBackend, ResourceClient } from "../../src/store/index.ts";

const namespaceKind = resolveKubectlResource("namespaces")!;

/**
 * A test double of the server's host: a memory store holding the given pods, a log that echoes its request, and
 * an exec that echoes its command and stdin and exits with the number that ends the command line (0 without one).
 */
export async function fakeHost(
  pods: ApiObject[],
): Promise<ServerHost & { logRequests: PodLogRequest[]; execRequests: PodExecRequest[] }> {
  const logRequests: PodLogRequest[] = [];
  const execRequests: PodExecRequest[] = [];
  const store = new ResourceClient(new MemoryBackend());
  await store.ensureBuiltIns();
  for (const ns of new Set(pods.map((p) => p.metadata.namespace!)))
    if (!(await store.get(namespaceKind, ns)))
      await store.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  for (const pod of pods) await store.create(structuredClone(pod));
  return {
    store,
    now: () => new Date("2026-01-01T12:00:00Z"),
    afterWrite: async () => {},
    logRequests,
    execRequests,
    async podLogs(request) {
      logRequests.push(request);
      return "line 1\nline 2\n";
    },
    async execInPod(request, io: CommandIO) {
      execRequests.push(request);
      const input = await io.stdin();
      io.stdout(`ran ${request.command.join(" ")}\n`);
      if (input) io.stdout(`stdin: ${input}`);
      io.stderr("to stderr\n");
      if (request.command[0] === "fail") throw new Error("the sandbox is gone");
      return Number(/(\d+)$/.exec(request.command.join(" "))?.[1] ?? 0);
    },
    commandRefusal: () => undefined,
    runCommand: async () => {
      throw new Error("not used");
    },
  };
}

export const samplePod: ApiObject = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "customer-1", namespace: "yaobank" },
  spec: { nodeName: "node1", containers: [{ name: "customer", image: "yaobank/customer" }] },
  status: { phase: "Running" },
};

export const twoContainerPod: ApiObject = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "sidecar-1", namespace: "yaobank" },
  spec: { nodeName: "node1", containers: [{ name: "app" }, { name: "proxy" }] },
  status: { phase: "Running" },
};
