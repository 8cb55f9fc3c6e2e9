// 8 concurrent tortie writers, rounds 10-19 (see concurrency.test.ts).
import { test } from "node:test";
import { concurrentRounds } from "./concurrency-rounds.ts";

const ROUNDS = Number(process.env.TORTIE_CONCURRENCY_ROUNDS ?? 10);

test(`8 concurrent writers x ${ROUNDS} more rounds: exit status true to own request, no leaked or shared address`, () =>
  concurrentRounds(10, ROUNDS));
