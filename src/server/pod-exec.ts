import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import { controlKinds } from "../control/index.ts";
import { MAX_EXEC_STDIN_BYTES } from "../lib/index.ts";
import type { CommandIO, PodExecRequest, ServerHost } from "./host.ts";
import { parseBoolParam, podContainer } from "./pod-container.ts";
import { StatusError, statusBody, toStatusError } from "./status.ts";

/** The remotecommand subprotocols served, best first. v5 adds the CLOSE signal kubectl sends when stdin ends. */
export const EXEC_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"] as const;

/**
 * Channel bytes of the remotecommand WebSocket protocol (k8s.io/apimachinery/pkg/util/remotecommand); 4 is the
 * client's terminal resize, which is ignored.
 */
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const CLOSE = 255;

export interface ExecPath {
  namespace: string;
  pod: string;
  query: URLSearchParams;
}

/** What an exec request asks for: the command and which of the streams the client attached. */
export interface ExecQuery extends PodExecRequest {
  stdout: boolean;
  stderr: boolean;
}

/** ExecOptions from the query, and the pod and container checked, with the API server's messages. */
export async function checkExecRequest(host: ServerHost, path: ExecPath): Promise<ExecQuery> {
  const { query } = path;
  const flag = (name: string) => {
    const text = query.get(name);
    return text === null ? false : parseBoolParam(name, text);
  };
  const request: ExecQuery = {
    namespace: path.namespace,
    pod: path.pod,
    command: query.getAll("command"),
    stdin: flag("stdin"),
    stdout: flag("stdout"),
    stderr: flag("stderr"),
    tty: flag("tty"),
  };
  if (request.command.length === 0)
    throw new StatusError(400, "BadRequest", "you must specify at least 1 command");
  if (!request.stdin && !request.stdout && !request.stderr)
    throw new StatusError(400, "BadRequest", "you must specify at least 1 of stdin, stdout, stderr");
  const pod = await host.store.mustGet(controlKinds.Pod, path.pod, path.namespace);
  const container = podContainer(pod, query.get("container") ?? undefined);
  if (container !== undefined) request.container = container;
  if (!pod.spec?.nodeName)
    throw new StatusError(400, "BadRequest", `pod ${path.pod} does not have a host assigned`);
  return request;
}

/** The error channel's last word, as the kubelet writes it (v4 and later): Success, or the exit code as a cause. */
export function exitStatus(command: string[], code: number): object {
  if (code === 0) return { metadata: {}, status: "Success" };
  return {
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: error executing command [${command.join(" ")}], exit code ${code}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  };
}

/** A refusal before the upgrade: a plain HTTP response carrying the Status, as the API server answers. */
function refuse(socket: Duplex, e: StatusError): void {
  const body = JSON.stringify(statusBody(e));
  socket.end(
    `HTTP/1.1 ${e.code} ${e.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The words of the 413 a too-large stdin gets on the error channel. */
export function execStdinTooLargeMessage(): string {
  return `Request entity too large: the standard input of exec is limited to ${MAX_EXEC_STDIN_BYTES} bytes`;
}

/**
 * The command's streams over one WebSocket: output framed by channel byte, stdin gathered until CLOSE (or the
 * connection's end). Stdin past MAX_EXEC_STDIN_BYTES ends the exec: a 413 Status on the error channel, the
 * connection closed, the command aborted. Nothing here throws out of a `ws` event handler: that would take the
 * whole server down.
 */
function channelIO(ws: WebSocket, request: ExecQuery, aborted: AbortController): CommandIO {
  const send = (channel: number, chunk: string) => {
    if (ws.readyState === WebSocket.OPEN)
      ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(chunk)]));
  };
  const input: Buffer[] = [];
  let inputBytes = 0;
  let inputDone = !request.stdin;
  let endInput: (text: string) => void = () => {};
  let failInput: (e: StatusError) => void = () => {};
  const stdinDone = request.stdin
    ? new Promise<string>((resolve, reject) => {
        endInput = resolve;
        failInput = reject;
      })
    : Promise.resolve("");
  // Refused stdin may be refused before anyone asks for it: that is not an unhandled rejection.
  stdinDone.catch(() => {});
  const finishInput = () => {
    if (inputDone) return;
    inputDone = true;
    endInput(Buffer.concat(input).toString("utf8"));
  };
  const refuseInput = () => {
    inputDone = true;
    input.length = 0;
    const tooLarge = new StatusError(413, "RequestEntityTooLarge", execStdinTooLargeMessage());
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(Buffer.concat([Buffer.from([ERROR]), Buffer.from(JSON.stringify(statusBody(tooLarge)))]));
      ws.close(1000);
    }
    aborted.abort();
    failInput(tooLarge);
  };
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data.length === 0 || inputDone) return;
    // Other channels (RESIZE, a tty's window size) change nothing: the host's commands have no terminal.
    if (data[0] === STDIN) {
      inputBytes += data.length - 1;
      if (inputBytes > MAX_EXEC_STDIN_BYTES) refuseInput();
      else input.push(data.subarray(1));
    } else if (data[0] === CLOSE && data[1] === STDIN) finishInput();
  });
  ws.on("close", () => {
    finishInput();
    aborted.abort();
  });
  // A broken connection or a frame over ws's maxPayload: `close` follows, and an unheard `error` would throw.
  ws.on("error", () => aborted.abort());
  return {
    // With a tty the kubelet has one output stream: what the command writes to stderr reaches stdout.
    stdout: (chunk) => {
      if (request.stdout) send(STDOUT, chunk);
    },
    stderr: (chunk) => {
      if (request.tty ? request.stdout : request.stderr) send(request.tty ? STDOUT : STDERR, chunk);
    },
    stdin: () => stdinDone,
    signal: aborted.signal,
  };
}

async function serveExec(ws: WebSocket, host: ServerHost, request: ExecQuery): Promise<void> {
  const aborted = new AbortController();
  const io = channelIO(ws, request, aborted);
  const { stdout: _stdout, stderr: _stderr, ...execRequest } = request;
  let status: object;
  try {
    status = exitStatus(request.command, await host.execInPod(execRequest, io));
  } catch (e) {
    status = statusBody(toStatusError(e));
  }
  if (ws.readyState !== WebSocket.OPEN) return;
  ws.send(Buffer.concat([Buffer.from([ERROR]), Buffer.from(JSON.stringify(status))]));
  ws.close(1000);
}

/**
 * The WebSocket side of `kubectl exec` (client-go's remotecommand WebSocket executor, v5.channel.k8s.io; v4 is
 * accepted too). The request is checked before the upgrade, so a missing pod or container is an HTTP Status
 * answer, as from the API server; after it, the command's exit code arrives on the error channel. kubectl 1.32
 * retries a refused WebSocket upgrade over SPDY/3.1; that is refused plainly, after the same checks, so kubectl
 * prints the first refusal's reason.
 */
export function execUpgradeHandler(
  host: ServerHost,
): (req: IncomingMessage, socket: Duplex, head: Buffer, path: ExecPath) => void {
  const wss = new WebSocketServer({
    noServer: true,
    // One frame larger than all of stdin may be is refused by ws itself (close 1009) before it is buffered.
    maxPayload: MAX_EXEC_STDIN_BYTES + 1,
    handleProtocols: (offered) => EXEC_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  return (req, socket, head, path) => {
    const ignoreEarlyErrors = () => {};
    socket.on("error", ignoreEarlyErrors);
    const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
    void (async () => {
      try {
        // The request is checked first, so kubectl's SPDY fallback after a refused WebSocket shows the reason.
        const request = await checkExecRequest(host, path);
        if (!/^websocket$/i.test(req.headers.upgrade ?? ""))
          throw new StatusError(
            400,
            "BadRequest",
            `not supported yet: exec over ${req.headers.upgrade ?? "a plain request"}; use WebSockets (${EXEC_PROTOCOLS.join(", ")})`,
          );
        if (!EXEC_PROTOCOLS.some((p) => offered.includes(p)))
          throw new StatusError(
            400,
            "BadRequest",
            `not supported yet: exec over subprotocols other than ${EXEC_PROTOCOLS.join(", ")} (offered: ${offered.join(", ") || "none"})`,
          );
        socket.off("error", ignoreEarlyErrors);
        wss.handleUpgrade(req, socket, head, (ws) => {
          void serveExec(ws, host, request);
        });
      } catch (e) {
        refuse(socket, toStatusError(e));
      }
    })();
  };
}
