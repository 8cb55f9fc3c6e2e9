/**
 * A list's query is checked as the API server checks it (review R1, finding 7): integers with Go's strconv words
 * (400), resourceVersionMatch by ValidateListOptions (422 on ListOptions), resourceVersion by the storage's
 * versioner (400); an Exact list at a revision the store cannot list from says so plainly.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startTestServer } from "./api-server-harness.ts";

const LIST = "/api/v1/namespaces/default/configmaps";

test("bad list query parameters get the API server's status codes and words", async (t) => {
  const s = await startTestServer(t);
  const cases: [string, number, string][] = [
    ["limit=abc", 400, 'strconv.ParseInt: parsing "abc": invalid syntax'],
    ["timeoutSeconds=0.1s", 400, 'strconv.ParseInt: parsing "0.1s": invalid syntax'],
    [
      "limit=99999999999999999999",
      400,
      'strconv.ParseInt: parsing "99999999999999999999": value out of range',
    ],
    [
      "resourceVersion=abc",
      400,
      'invalid resource version: resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax',
    ],
    [
      "resourceVersion=1&resourceVersionMatch=Bogus",
      422,
      'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: "Bogus": supported values: "Exact", "NotOlderThan", ""',
    ],
    [
      "resourceVersionMatch=Exact",
      422,
      'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
    ],
    [
      "resourceVersion=0&resourceVersionMatch=Exact",
      422,
      'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
    ],
  ];
  for (const [query, code, message] of cases) {
    const r = await s.call("GET", `${LIST}?${query}`);
    assert.equal(r.status, code, `${query}: ${r.text}`);
    assert.equal(r.json().message, message, query);
  }
  const invalid = (await s.call("GET", `${LIST}?resourceVersion=1&resourceVersionMatch=Bogus`)).json();
  assert.deepEqual(invalid.details, {
    group: "meta.k8s.io",
    kind: "ListOptions",
    causes: [
      {
        reason: "FieldValueNotSupported",
        message: 'Unsupported value: "Bogus": supported values: "Exact", "NotOlderThan", ""',
        field: "resourceVersionMatch",
      },
    ],
  });
});

test("resourceVersionMatch=Exact lists at the current revision and refuses an older one plainly", async (t) => {
  const s = await startTestServer(t);
  const first = (await s.call("GET", LIST)).json().metadata.resourceVersion as string;
  assert.equal(
    (await s.call("POST", LIST, { body: { metadata: { name: "later" }, data: { a: "b" } } })).status,
    201,
  );
  const now = (await s.call("GET", LIST)).json().metadata.resourceVersion as string;
  const current = await s.call("GET", `${LIST}?resourceVersion=${now}&resourceVersionMatch=Exact`);
  assert.equal(current.status, 200, current.text);
  assert.deepEqual(
    current.json().items.map((o: { metadata: { name: string } }) => o.metadata.name),
    ["later"],
  );
  // Today's objects are not an answer for an earlier revision (they hold "later", created after it).
  const old = await s.call("GET", `${LIST}?resourceVersion=${first}&resourceVersionMatch=Exact`);
  assert.notEqual(old.status, 200, old.text);
  assert.match(
    old.json().message,
    /^not supported yet: resourceVersionMatch=Exact at a resourceVersion other than/,
  );
});
