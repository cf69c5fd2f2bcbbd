// SPDX-License-Identifier: Apache-2.0
// Tests of the cost ledger: sequential and parallel composition, usage, formatting.
#include <reckon/budget/ledger.hpp>

#include <support/catch.hpp>

#include <fmt/format.h>

#include <string>

namespace {
reckon::ledger sample_ledger() {
  reckon::ledger l;
  l.generated_tokens = 100;
  l.prefilled_tokens = 20;
  l.engine_calls = 3;
  l.prm_calls = 2;
  l.prm_tokens = 50;
  l.peak_live_sequences = 4;
  l.peak_kv_tokens = 400;
  l.serial_depth = 3;
  l.wall_seconds = 0.5;
  return l;
}
} // namespace

TEST_CASE("ledger += composes runs one after another", "[budget][ledger]") {
  reckon::ledger a = sample_ledger();
  reckon::ledger b = sample_ledger();
  b.peak_live_sequences = 9;
  b.peak_kv_tokens = 100;
  a += b;
  CHECK(a.generated_tokens == 200);
  CHECK(a.prefilled_tokens == 40);
  CHECK(a.engine_calls == 6);
  CHECK(a.prm_calls == 4);
  CHECK(a.prm_tokens == 100);
  CHECK(a.peak_live_sequences == 9);
  CHECK(a.peak_kv_tokens == 400);
  CHECK(a.serial_depth == 6);
  CHECK(a.wall_seconds == 1.0);
  CHECK(a.total_tokens() == 240);
  CHECK(sample_ledger() + reckon::ledger{} == sample_ledger());
}

TEST_CASE("parallel() adds peaks and takes the longer depth", "[budget][ledger]") {
  reckon::ledger a = sample_ledger();
  reckon::ledger b = sample_ledger();
  b.serial_depth = 10;
  b.wall_seconds = 0.25;
  const reckon::ledger p = parallel(a, b);
  CHECK(p.generated_tokens == 200);
  CHECK(p.peak_live_sequences == 8);
  CHECK(p.peak_kv_tokens == 800);
  CHECK(p.serial_depth == 10);
  CHECK(p.wall_seconds == 0.5);
}

TEST_CASE("ledger adds an engine's usage", "[budget][ledger]") {
  reckon::ledger l;
  l += reckon::usage{.prefilled_tokens = 7, .generated_tokens = 11, .engine_calls = 2};
  CHECK(l.prefilled_tokens == 7);
  CHECK(l.generated_tokens == 11);
  CHECK(l.engine_calls == 2);
  CHECK(l.serial_depth == 0);
}

TEST_CASE("ledger formats as key=value and as JSON", "[budget][ledger]") {
  const reckon::ledger l = sample_ledger();
  CHECK(fmt::format("{}", l) ==
        "generated_tokens=100 prefilled_tokens=20 engine_calls=3 prm_calls=2 prm_tokens=50 embedding_calls=0 "
        "embedding_tokens=0 peak_live_sequences=4 peak_kv_tokens=400 peak_shared_kv_tokens=0 shared_kv_token_rounds=0 "
        "serial_depth=3 wall_seconds=0.5");
  CHECK(fmt::format("{:j}", l) ==
        "{\"generated_tokens\":100,\"prefilled_tokens\":20,\"engine_calls\":3,\"prm_calls\":2,\"prm_tokens\":50,"
        "\"embedding_calls\":0,\"embedding_tokens\":0,\"peak_live_sequences\":4,\"peak_kv_tokens\":400,"
        "\"peak_shared_kv_tokens\":0,\"shared_kv_token_rounds\":0,\"serial_depth\":3,\"wall_seconds\":0.5}");
  int fields = 0;
  for_each_field(l, [&](const char*, auto) { ++fields; });
  CHECK(fields == 13);
}
