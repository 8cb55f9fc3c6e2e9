/**
 * `POST /tortie/v1/commands`: a `tortie …` command line run inside the server, so the store, the controllers and
 * the dataplane stay loaded between commands.
 *
 * The protocol (the client side is src/cli/forward.ts):
 * - request: a JSON body `{"argv": [...], "cwd": "/abs/dir", "env": {"TORTIE_NOW": "..."}, "stdin"?: "..."}`;
 *   `stdin` is present only when the command reads standard input (`-f -`).
 * - response: 200 with `application/x-tortie-frames`, one JSON object per line, in the order the command wrote:
 *   `{"o":"text"}` (stdout), `{"e":"text"}` (stderr), and last `{"exit":N}`. A stream that ends without the exit
 *   frame means the server went away mid-command.
 * A malformed request, or a command line a client never forwards (ServerHost.commandRefusal), is a 400 Status
 * and runs nothing; the client then runs the command itself.
 */
import { escapeControl, MAX_MANIFEST_BYTES } from "../lib/index.ts";
import type { CommandIO, ForwardedCommand, ServerHost } from "./host.ts";
import { readBounded } from "./request-body.ts";

export const FRAMES_CONTENT_TYPE = "application/x-tortie-frames";

/**
 * The largest request body: standard input up to tortie's manifest limit, which JSON escaping can make longer
 * (a control byte is six characters), plus the command line. The command applies its own limit to stdin.
 */
const MAX_FORWARD_BODY_BYTES = 6 * MAX_MANIFEST_BYTES + 1024 * 1024;

interface ForwardRequest extends ForwardedCommand {
  stdin?: string;
}

export async function forwardedCommandResponse(host: ServerHost, request: Request): Promise<Response> {
  let command: ForwardRequest;
  try {
    command = parseForwardRequest(await boundedText(request, MAX_FORWARD_BODY_BYTES));
  } catch (e) {
    return badRequest((e as Error).message);
  }
  const refusal = host.commandRefusal(command.argv);
  if (refusal !== undefined) return badRequest(refusal);
  const encoder = new TextEncoder();
  const aborted = new AbortController();
  request.signal?.addEventListener("abort", () => aborted.abort(), { once: true });
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (frame: object) => {
        if (aborted.signal.aborted) return;
        try {
          controller.enqueue(encoder.encode(`${JSON.stringify(frame)}\n`));
        } catch {
          // The client went away: the command runs on to its end, its output is dropped.
        }
      };
      const io: CommandIO = {
        stdout: (chunk) => send({ o: chunk }),
        stderr: (chunk) => send({ e: chunk }),
        stdin: () => Promise.resolve(command.stdin ?? ""),
        signal: aborted.signal,
      };
      const { stdin: _stdin, ...forwarded } = command;
      host
        .runCommand(forwarded, io)
        .catch((e: unknown) => {
          // The client gets one line; the stack is for the server's log (serve.log), as app.ts's onError does.
          console.error(`tortie serve: forwarded command failed: ${(e as Error)?.stack ?? String(e)}`);
          send({ e: `internal error: ${escapeControl((e as Error)?.message ?? String(e))}\n` });
          return 1;
        })
        .then((code) => {
          send({ exit: code });
          if (!aborted.signal.aborted) controller.close();
        });
    },
    cancel() {
      aborted.abort();
    },
  });
  return new Response(stream, {
    status: 200,
    headers: { "content-type": FRAMES_CONTENT_TYPE, "cache-control": "no-store" },
  });
}

function parseForwardRequest(text: string): ForwardRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error("the request body is not JSON");
  }
  const b = body as Partial<ForwardRequest> | null;
  if (!b || typeof b !== "object") throw new Error("the request body is not a JSON object");
  if (!Array.isArray(b.argv) || !b.argv.every((a) => typeof a === "string"))
    throw new Error("argv: must be an array of strings");
  if (typeof b.cwd !== "string" || !b.cwd.startsWith("/")) throw new Error("cwd: must be an absolute path");
  const env: Record<string, string> = {};
  if (b.env !== undefined) {
    if (typeof b.env !== "object" || b.env === null || Array.isArray(b.env))
      throw new Error("env: must be an object of strings");
    for (const [k, v] of Object.entries(b.env)) {
      // Only tortie's own variables travel: the server's environment is not the client's to set.
      if (!k.startsWith("TORTIE_") || typeof v !== "string")
        throw new Error(`env: ${JSON.stringify(k)}: only TORTIE_* variables with string values`);
      env[k] = v;
    }
  }
  if (b.stdin !== undefined && typeof b.stdin !== "string") throw new Error("stdin: must be a string");
  return { argv: b.argv, cwd: b.cwd, env, ...(b.stdin === undefined ? {} : { stdin: b.stdin }) };
}

/** The body as text, refused past `limit` bytes before it is all read. */
async function boundedText(request: Request, limit: number): Promise<string> {
  const tooLarge = () => new Error(`Request entity too large: limit is ${limit}`);
  return (await readBounded(request, limit, tooLarge)).toString("utf8");
}

function badRequest(message: string): Response {
  const status = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: message.startsWith("Request entity too large") ? "RequestEntityTooLarge" : "BadRequest",
    code: message.startsWith("Request entity too large") ? 413 : 400,
  };
  return new Response(JSON.stringify(status), {
    status: status.code,
    headers: { "content-type": "application/json" },
  });
}
