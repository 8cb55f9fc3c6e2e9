// 8 concurrent tortie writers, rounds 0-9 (concurrency-2.test.ts runs rounds 10-19 on a cluster of its own,
// so each file stays near a minute and the two can run side by side).
import { test } from "node:test";
import { concurrentRounds } from "./concurrency-rounds.ts";

const ROUNDS = Number(process.env.TORTIE_CONCURRENCY_ROUNDS ?? 10);

test(`8 concurrent writers x ${ROUNDS} rounds: exit status true to own request, no leaked or shared address`, () =>
  concurrentRounds(0, ROUNDS));
