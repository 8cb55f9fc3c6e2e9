// 8 concurrent tortie writers, rounds 10-19 (see concurrency.test.ts).
import { test } from "node:test";
import { concurrentRounds } from "./concurrency-rounds.ts";

const ROUNDS = Number(process.env.TORTIE_CONCURRENCY_ROUNDS ?? 10);
// About 40 s on a quiet 2-core machine, under 3 minutes at a load of 14: a hung writer fails the file (its
// after() kills the children) instead of holding CI until its own limit.
const TIMEOUT_MS = 600_000;

test(
  `8 concurrent writers x ${ROUNDS} more rounds: exit status true to own request, no leaked or shared address`,
  { timeout: TIMEOUT_MS },
  () => concurrentRounds(10, ROUNDS),
);
