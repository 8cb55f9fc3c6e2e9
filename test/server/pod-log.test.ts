import assert from "node:assert/strict";
import { test } from "node:test";
import { podLogResponse } from "../../src/server/index.ts";
import { fakeHost, samplePod, twoContainerPod } from "./fake-host.ts";

const q = (text: string) => new URLSearchParams(text);

test("pods/log: text/plain from the host, the query parsed into the log request", async () => {
  const host = await fakeHost([samplePod]);
  const res = await podLogResponse(
    host,
    "yaobank",
    "customer-1",
    q("tailLines=5&sinceSeconds=60&timestamps=true&previous=false"),
  );
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain");
  assert.equal(await res.text(), "line 1\nline 2\n");
  assert.deepEqual(host.logRequests, [
    {
      namespace: "yaobank",
      pod: "customer-1",
      container: "customer",
      tailLines: 5,
      sinceSeconds: 60,
      timestamps: true,
      previous: false,
    },
  ]);
});

test("sinceTime becomes seconds before the server's now; a future time asks for nothing", async () => {
  const host = await fakeHost([samplePod]);
  // fakeHost's clock is 2026-01-01T12:00:00Z.
  await podLogResponse(host, "yaobank", "customer-1", q("sinceTime=2026-01-01T11:59:00.5Z"));
  assert.equal(host.logRequests[0]!.sinceSeconds, 60);
  const future = await podLogResponse(host, "yaobank", "customer-1", q("sinceTime=2026-01-01T13:00:00Z"));
  assert.equal(await future.text(), "");
  assert.equal(host.logRequests.length, 1);
});

test("limitBytes cuts the text", async () => {
  const host = await fakeHost([samplePod]);
  const res = await podLogResponse(host, "yaobank", "customer-1", q("limitBytes=4"));
  assert.equal(await res.text(), "line");
});

async function failure(query: string, pod = "customer-1") {
  const host = await fakeHost([samplePod, twoContainerPod]);
  const res = await podLogResponse(host, "yaobank", pod, q(query));
  assert.equal(res.headers.get("content-type"), "application/json");
  const status = (await res.json()) as { kind: string; code: number; reason: string; message: string };
  assert.equal(status.kind, "Status");
  assert.equal(status.code, res.status);
  return `${res.status} ${status.reason}: ${status.message}`;
}

test("pods/log refusals carry the API server's Status messages", async () => {
  assert.equal(await failure("", "nope"), '404 NotFound: pods "nope" not found');
  assert.equal(await failure("container=db"), "400 BadRequest: container db is not valid for pod customer-1");
  assert.equal(
    await failure("", "sidecar-1"),
    "400 BadRequest: a container name must be specified for pod sidecar-1, choose one of: [app proxy]",
  );
  assert.equal(
    await failure("tailLines=-1"),
    '422 Invalid: PodLogOptions "customer-1" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0',
  );
  assert.equal(
    await failure("sinceSeconds=0"),
    '422 Invalid: PodLogOptions "customer-1" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0',
  );
  assert.equal(
    await failure("tailLines=ten"),
    '400 BadRequest: tailLines: strconv.ParseInt: parsing "ten": invalid syntax',
  );
  assert.equal(
    await failure("timestamps=yes"),
    '400 BadRequest: timestamps: strconv.ParseBool: parsing "yes": invalid syntax',
  );
  assert.equal(await failure("follow=true"), "400 BadRequest: not supported yet: follow");
  assert.equal(
    await failure("sinceTime=yesterday"),
    '400 BadRequest: sinceTime: parsing time "yesterday": not an RFC 3339 time',
  );
});
