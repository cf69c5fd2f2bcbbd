// SPDX-License-Identifier: Apache-2.0
// reckon::llama_cpp::step_tag_prm over a real llama.cpp context: incremental = from-scratch scores, O(steps) tokens.

// Built only where reckon::llama_cpp exists (RECKON_TEST_LLAMA_CPP, as llama_cpp_test.cpp); the model
// is the GGUF file named by RECKON_TEST_GGUF (the tiny random-weights llama: its scores are
// meaningless but deterministic, which is all these tests need). Without it the cases only warn.
#if defined(RECKON_TEST_LLAMA_CPP)

#include <reckon/adapters/llama_cpp_prm.hpp>
#include <reckon/reckon.hpp>

#include "llama_test_model.hpp"
#include <support/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace lc = reckon::llama_cpp;
using reckon::errc;

static_assert(reckon::process_reward_model<lc::step_tag_prm>);

lc::context_backend prm_context(std::uint32_t n_seq_max, std::uint32_t n_ctx = 4096) {
  return lc::context_backend(reckon::test::llama_test_model()->get(), {.n_ctx = n_ctx, .n_batch = 512, .n_seq_max = n_seq_max, .n_threads = 1});
}

lc::step_tag_prm make_prm(std::uint32_t n_seq_max, bool cache = true, std::uint32_t n_ctx = 4096) {
  return lc::step_tag_prm(prm_context(n_seq_max, n_ctx), {.cache = cache});
}

// Views over a set of paths (each a list of steps).
std::vector<reckon::solution_view> views_of(const std::vector<std::vector<std::string>>& paths) {
  std::vector<reckon::solution_view> v;
  for (const auto& p : paths) v.push_back({.steps = p});
  return v;
}

// The largest |a - b| over two score lists of the same shape (+inf when the shapes differ).
double max_diff(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b) {
  if (a.size() != b.size()) return INFINITY;
  double d = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].size() != b[i].size()) return INFINITY;
    for (std::size_t j = 0; j < a[i].size(); ++j) d = std::max(d, std::abs(a[i][j] - b[i][j]));
  }
  return d;
}

// How many llama sequences of a context hold KV cells.
std::size_t sequences_holding_cells(llama_context* ctx) {
  llama_memory_t mem = llama_get_memory(ctx);
  std::size_t n = 0;
  for (std::uint32_t s = 0; s < llama_n_seq_max(ctx); ++s)
    n += llama_memory_seq_pos_max(mem, static_cast<llama_seq_id>(s)) >= 0 ? 1 : 0;
  return n;
}
std::size_t sequences_holding_cells(lc::step_tag_prm& prm) { return sequences_holding_cells(prm.backend().context()); }

// A real context whose decode can be made to fail (llama_decode's "aborted") or tokenize to throw.
struct flaky_prm_backend {
  lc::context_backend inner;
  int fail_decode_at = -1; // the decode call (0-based) that returns 2
  int decodes = 0;
  bool throw_tokenize = false;

  [[nodiscard]] std::uint32_t n_seq_max() const { return inner.n_seq_max(); }
  [[nodiscard]] std::uint32_t n_batch() const { return inner.n_batch(); }
  [[nodiscard]] std::uint32_t n_ctx() const { return inner.n_ctx(); }
  std::vector<std::int32_t> tokenize(std::string_view text, bool add_special) {
    if (throw_tokenize) throw std::runtime_error("tokenizer gone");
    return inner.tokenize(text, add_special);
  }
  std::string piece(std::int32_t t) { return inner.piece(t); }
  [[nodiscard]] bool is_eog(std::int32_t t) const { return inner.is_eog(t); }
  std::int32_t decode(std::span<const lc::batch_entry> e) { return decodes++ == fail_decode_at ? 2 : inner.decode(e); }
  std::span<const float> logits(std::int32_t i) { return inner.logits(i); }
  void seq_cp(std::int32_t a, std::int32_t b) { inner.seq_cp(a, b); }
  bool seq_rm(std::int32_t s, std::int32_t p0, std::int32_t p1) { return inner.seq_rm(s, p0, p1); }
};

std::string step_text(std::size_t path, std::size_t step) {
  return " Step " + std::to_string(step + 1) + ": " + std::to_string(3 * path + step) + " + " +
         std::to_string(path % 5 + step) + " = " + std::to_string(4 * path + 2 * step) + ".\n";
}

const reckon::problem prm_problem{.id = 17, .prompt = "Janet has 16 eggs and eats 3. How many are left?"};

// Batch arithmetic: the tiny model is F16 and ggml's CPU matmuls round differently for different
// batch shapes, so the same row's logits move with the batch around it. Measured: incremental vs
// from scratch differ by up to 2.2e-4 in a score (from scratch alone vs in a batch of 8: 3.5e-5;
// one view scored incrementally equals from scratch with n_batch = 16 to 6 digits, so it is the
// batching, not the cache). A prompt 3 tokens longer moves the scores by up to 2e-2, which is what
// a wrong position or a wrong prefix would look like: 1e-3 lies between the two.
constexpr double score_tolerance = 1e-3;

} // namespace

TEST_CASE("llama_cpp step_tag_prm (real): a search of 8 paths x 10 steps decodes each step once and scores as from scratch",
          "[adapters][llama_cpp_real][step_tag_prm]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  auto prm = make_prm(16);
  auto scratch = make_prm(16, false);
  auto& tok = prm.backend();
  const std::uint64_t prompt_tokens = tok.tokenize(prm_problem.prompt, true).size();

  // 8 paths grow one step a round; every third round the last two paths are dropped and two
  // others are forked (a resampling), so copies, in-place extensions and releases all occur.
  std::vector<std::vector<std::string>> paths(8);
  std::vector<std::size_t> ids(8);
  for (std::size_t i = 0; i < 8; ++i) ids[i] = i;
  std::uint64_t expected_total = prompt_tokens, whole = 0;
  double worst = 0.0;
  for (std::size_t round = 0; round < 10; ++round) {
    if (round > 0 && round % 3 == 0) {
      paths[6] = paths[0];
      paths[7] = paths[1];
      ids[6] = 100 + round;
      ids[7] = 200 + round;
    }
    std::uint64_t expected = round == 0 ? prompt_tokens : 0;
    for (std::size_t i = 0; i < 8; ++i) {
      paths[i].push_back(step_text(ids[i], round));
      expected += tok.tokenize(paths[i].back(), false).size() + 1; // the new step and its tag
    }
    for (const auto& p : paths) {
      whole += prompt_tokens;
      for (const auto& s : p) whole += tok.tokenize(s, false).size() + 1;
    }
    const auto views = views_of(paths);
    auto got = prm.score_steps(prm_problem, views);
    auto want = scratch.score_steps(prm_problem, views);
    REQUIRE(got);
    REQUIRE(want);
    CHECK(prm.tokens_last_call() == expected);
    CHECK(prm.cached() == 8);
    worst = std::max(worst, max_diff(*got, *want));
    for (const auto& s : *got)
      for (const double x : s) CHECK((x > 0.0 && x < 1.0));
    expected_total += expected - (round == 0 ? prompt_tokens : 0);
  }
  CHECK(worst <= score_tolerance);
  CHECK(scratch.counters().decoded_tokens == whole); // what re-scoring whole prefixes costs, measured
  // The tolerance tells a wrong prefix from batch arithmetic: the same steps after another prompt.
  const reckon::problem shifted{.id = prm_problem.id, .prompt = prm_problem.prompt + " ok"};
  auto moved = scratch.score_steps(shifted, views_of(paths));
  REQUIRE(moved);
  CHECK(max_diff(*moved, *scratch.score_steps(prm_problem, views_of(paths))) > 10 * score_tolerance);
  const auto& c = prm.counters();
  CHECK(c.decoded_tokens == expected_total);
  CHECK(c.whole_prefix_tokens == whole);
  CHECK(c.fallbacks == 0);
  CHECK(c.decode_calls == 11); // the prompt once, then one batch per call
  const double ratio = static_cast<double>(whole) / static_cast<double>(c.decoded_tokens);
  CHECK(ratio > 4.0);
  fmt::print("step_tag_prm, 8 paths x 10 steps: {} tokens decoded, {} re-scoring whole prefixes ({:.2f}x); "
             "max |incremental - from scratch| = {:.3g}\n",
             c.decoded_tokens, whole, ratio, worst);
}

TEST_CASE("llama_cpp step_tag_prm (real): a shrinking frontier releases its llama sequences; unchanged and equal views decode nothing",
          "[adapters][llama_cpp_real][step_tag_prm]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  auto prm = make_prm(16);
  auto scratch = make_prm(16, false);
  std::vector<std::vector<std::string>> paths;
  for (std::size_t i = 0; i < 8; ++i) paths.push_back({step_text(i, 0)});
  REQUIRE(prm.score_steps(prm_problem, views_of(paths)));
  CHECK(prm.cached() == 8);
  CHECK(sequences_holding_cells(prm) == 8);

  // Three survive and grow; the other five are no longer scored, so their sequences go.
  paths.resize(3);
  for (std::size_t i = 0; i < 3; ++i) paths[i].push_back(step_text(i, 1));
  auto r = prm.score_steps(prm_problem, views_of(paths));
  REQUIRE(r);
  CHECK(prm.cached() == 3);
  CHECK(prm.live() == 3);
  CHECK(sequences_holding_cells(prm) == 3);

  // The same views again (a particle re-scored unchanged), twice each: nothing to decode.
  auto twice = paths;
  twice.insert(twice.end(), paths.begin(), paths.end());
  auto again = prm.score_steps(prm_problem, views_of(twice));
  REQUIRE(again);
  CHECK(prm.tokens_last_call() == 0);
  CHECK(prm.cached() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK((*again)[i] == (*r)[i]);
    CHECK((*again)[i + 3] == (*r)[i]);
  }
  // One path forked into three children in one call: one extends in place, two copy.
  std::vector<std::vector<std::string>> kids(3, paths[0]);
  for (std::size_t i = 0; i < 3; ++i) kids[i].push_back(step_text(50 + i, 2));
  auto k = prm.score_steps(prm_problem, views_of(kids));
  auto want = scratch.score_steps(prm_problem, views_of(kids));
  REQUIRE(k);
  REQUIRE(want);
  CHECK(max_diff(*k, *want) <= score_tolerance);
  CHECK(prm.cached() == 3);
  CHECK(sequences_holding_cells(prm) == 3);
  prm.clear();
  CHECK(sequences_holding_cells(prm) == 0);
  CHECK(prm.live() == 0);
}

TEST_CASE("llama_cpp step_tag_prm (real): tag, good and bad must each be one token", "[adapters][llama_cpp_real][step_tag_prm]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  auto code_of = [](lc::step_tag_params p) {
    try {
      lc::step_tag_prm prm(prm_context(2), std::move(p));
    } catch (const reckon::exception& e) {
      return e.code();
    }
    return errc::engine_failure; // constructed: not what any case below expects
  };
  CHECK(code_of({.step_tag = ""}) == errc::invalid_argument);
  CHECK(code_of({.step_tag = "ки ки"}) == errc::invalid_argument);
  CHECK(code_of({.good = ""}) == errc::invalid_argument);
  CHECK(code_of({.good = "plus sign"}) == errc::invalid_argument);
  CHECK(code_of({.bad = "minus sign"}) == errc::invalid_argument);
  CHECK(code_of({.good = "+", .bad = "+"}) == errc::invalid_argument);
  // Math-Shepherd's defaults are one token each in a llama SentencePiece vocabulary.
  CHECK_NOTHROW(lc::step_tag_prm(prm_context(2)));
}

TEST_CASE("llama_cpp step_tag_prm (real): a view with no steps gets no scores and decodes nothing",
          "[adapters][llama_cpp_real][step_tag_prm]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  auto prm = make_prm(4);
  const std::vector<std::vector<std::string>> empty(2);
  auto r = prm.score_steps(prm_problem, views_of(empty));
  REQUIRE(r);
  CHECK(r->size() == 2);
  CHECK((*r)[0].empty());
  CHECK(prm.tokens_last_call() == 0);
  CHECK(prm.live() == 0);
  const std::vector<std::vector<std::string>> mixed{{}, {step_text(0, 0)}, {}};
  auto m = prm.score_steps(prm_problem, views_of(mixed));
  REQUIRE(m);
  CHECK((*m)[0].empty());
  CHECK((*m)[1].size() == 1);
  CHECK((*m)[2].empty());
  CHECK(prm.cached() == 1);
  // No views at all: an empty answer, and the frontier is empty.
  auto none = prm.score_steps(prm_problem, {});
  REQUIRE(none);
  CHECK(none->empty());
  CHECK(prm.live() == 0);
  // A prompt with no tokens (no BOS added) is refused.
  lc::step_tag_prm bare(lc::context_backend(reckon::test::llama_test_model()->get(), {.n_ctx = 512, .n_seq_max = 2, .n_threads = 1, .add_bos = false}));
  auto bad = bare.score_steps({.id = 3, .prompt = ""}, views_of(mixed));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_argument);
}

TEST_CASE("llama_cpp step_tag_prm (real): another problem never reuses the cache of the last one",
          "[adapters][llama_cpp_real][step_tag_prm]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  auto prm = make_prm(8);
  auto scratch = make_prm(8, false);
  const std::vector<std::vector<std::string>> paths{{step_text(0, 0)}, {step_text(1, 0)}};
  REQUIRE(prm.score_steps(prm_problem, views_of(paths)));
  const std::vector<std::vector<std::string>> longer{{step_text(0, 0), step_text(0, 1)}, {step_text(1, 0), step_text(1, 1)}};
  // The same id with another prompt: the steps match a cached prefix's, the problem does not.
  const reckon::problem other_prompt{.id = prm_problem.id, .prompt = "A train leaves at 9 and arrives at 11. How long?"};
  // Another id with the same prompt: a different problem too (the cache is keyed by both).
  const reckon::problem other_id{.id = prm_problem.id + 1, .prompt = prm_problem.prompt};
  for (const auto& p : {other_prompt, other_id}) {
    REQUIRE(prm.score_steps(prm_problem, views_of(paths)));
    auto got = prm.score_steps(p, views_of(longer));
    auto want = scratch.score_steps(p, views_of(longer));
    REQUIRE(got);
    REQUIRE(want);
    CHECK(max_diff(*got, *want) <= score_tolerance);
    CHECK(prm.tokens_last_call() == scratch.tokens_last_call() - prm.backend().tokenize(p.prompt, true).size());
    CHECK(prm.cached() == 2);
  }
  // And back: the first problem's sequences went with the switch, so it decodes from the prompt.
  REQUIRE(prm.score_steps(prm_problem, views_of(longer)));
  REQUIRE(scratch.score_steps(prm_problem, views_of(longer)));
  CHECK(prm.tokens_last_call() == scratch.tokens_last_call() - prm.backend().tokenize(prm_problem.prompt, true).size());
}

TEST_CASE("llama_cpp step_tag_prm (real): past n_seq_max views are re-scored from the prompt, with the same scores",
          "[adapters][llama_cpp_real][step_tag_prm]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  auto prm = make_prm(4);
  auto scratch = make_prm(4, false);
  std::vector<std::vector<std::string>> paths;
  for (std::size_t i = 0; i < 6; ++i) paths.push_back({step_text(i, 0)});
  for (std::size_t round = 0; round < 3; ++round) {
    if (round > 0)
      for (std::size_t i = 0; i < paths.size(); ++i) paths[i].push_back(step_text(i, round));
    auto got = prm.score_steps(prm_problem, views_of(paths));
    auto want = scratch.score_steps(prm_problem, views_of(paths));
    REQUIRE(got);
    REQUIRE(want);
    CHECK(max_diff(*got, *want) <= score_tolerance);
    CHECK(prm.cached() <= 4);
    CHECK(sequences_holding_cells(prm) == prm.cached());
  }
  CHECK(prm.counters().fallbacks > 0);
  CHECK(prm.counters().decoded_tokens < scratch.counters().decoded_tokens);
}

TEST_CASE("llama_cpp step_tag_prm (real): a full KV cache is no_capacity, every sequence is released, and the next call recovers",
          "[adapters][llama_cpp_real][step_tag_prm]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  auto prm = make_prm(8, true, 256);
  const std::uint32_t cells = prm.backend().n_ctx();
  // Eight views of about cells / 4 tokens each: each fits the context alone, together they do not.
  std::string big;
  while (prm.backend().tokenize(big, false).size() < cells / 4) big += " one two three";
  const std::vector<std::vector<std::string>> paths(8, std::vector<std::string>{big});
  std::vector<std::vector<std::string>> distinct = paths;
  for (std::size_t i = 0; i < distinct.size(); ++i) distinct[i][0] += std::to_string(i);
  auto r = prm.score_steps(prm_problem, views_of(distinct));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::no_capacity);
  CHECK(prm.live() == 0);
  CHECK(sequences_holding_cells(prm) == 0);
  distinct.resize(2);
  auto ok = prm.score_steps(prm_problem, views_of(distinct));
  REQUIRE(ok);
  CHECK(prm.cached() == 2);
  // A view longer than the context is refused before anything is decoded.
  std::string huge;
  while (prm.backend().tokenize(huge, false).size() < cells) huge += " one two three";
  auto too_long = prm.score_steps(prm_problem, views_of({{huge}}));
  REQUIRE_FALSE(too_long);
  CHECK(too_long.error().code == errc::invalid_argument);
  CHECK(prm.tokens_last_call() == 0);
  CHECK(prm.live() == 0);
}

TEST_CASE("llama_cpp step_tag_prm (real): a failed decode or a throwing tokenizer leaves no sequence behind",
          "[adapters][llama_cpp_real][step_tag_prm]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  lc::basic_step_tag_prm<flaky_prm_backend> prm(flaky_prm_backend{prm_context(8)});
  auto scratch = make_prm(8, false);
  llama_context* ctx = prm.backend().inner.context();
  std::vector<std::vector<std::string>> paths;
  for (std::size_t i = 0; i < 4; ++i) paths.push_back({step_text(i, 0)});
  REQUIRE(prm.score_steps(prm_problem, views_of(paths)));
  REQUIRE(prm.cached() == 4);
  // The second round fails in its decode, after copies and in-place extensions were set up.
  paths[3] = paths[0];
  for (std::size_t i = 0; i < 4; ++i) paths[i].push_back(step_text(i, 1));
  prm.backend().fail_decode_at = prm.backend().decodes;
  auto r = prm.score_steps(prm_problem, views_of(paths));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::aborted);
  CHECK(prm.live() == 0);
  CHECK(sequences_holding_cells(ctx) == 0);
  // The next call re-scores from the prompt and agrees with a PRM that never failed.
  auto again = prm.score_steps(prm_problem, views_of(paths));
  auto want = scratch.score_steps(prm_problem, views_of(paths));
  REQUIRE(again);
  REQUIRE(want);
  CHECK(max_diff(*again, *want) <= score_tolerance);
  CHECK(prm.cached() == 4);
  // An exception inside the call is engine_failure, with every sequence released.
  for (auto& p : paths) p.push_back(step_text(9, 2));
  prm.backend().throw_tokenize = true;
  auto thrown = prm.score_steps(prm_problem, views_of(paths));
  REQUIRE_FALSE(thrown);
  CHECK(thrown.error().code == errc::engine_failure);
  CHECK(prm.live() == 0);
  CHECK(sequences_holding_cells(ctx) == 0);
}

TEST_CASE("llama_cpp step_tag_prm (real): reckon::particle_filter with the llama.cpp policy and the step-tag PRM",
          "[adapters][llama_cpp_real][step_tag_prm]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  lc::engine engine(lc::context_backend(reckon::test::llama_test_model()->get(), {.n_ctx = 4096, .n_seq_max = 16, .n_threads = 1}));
  reckon::particle_filter_params params;
  params.n = 6;
  auto prm = make_prm(params.n); // n sequences suffice: every scored view is a prefix the next round extends
  params.max_steps = 6;
  params.stepping.max_step_tokens = 12;
  params.stepping.max_total_tokens = 72;
  params.stepping.temperature = 0.8f;
  const reckon::random_stream stream(reckon::stream_key{.seed = 3, .problem = prm_problem.id});
  const auto r = reckon::particle_filter(params).run(engine, prm, prm_problem, reckon::budget{}, stream);
  REQUIRE(r);
  CHECK(engine.live() == 0);
  CHECK(prm.cached() <= params.n);
  CHECK(sequences_holding_cells(prm) == prm.cached());
  const auto& c = prm.counters();
  CHECK(r->cost.prm_calls == c.calls);
  CHECK(r->cost.prm_tokens == c.decoded_tokens); // the run's meter counts what the PRM decoded
  CHECK(c.decoded_tokens < c.whole_prefix_tokens);
  CHECK(c.fallbacks == 0);
  fmt::print("particle_filter + step_tag_prm (random weights): answer {}; PRM: {} calls, {} tokens decoded vs {} "
             "re-scoring whole prefixes; ledger: {:j}\n",
             r->answer.value_or("(none)"), c.calls, c.decoded_tokens, c.whole_prefix_tokens, r->cost);
}

#endif // RECKON_TEST_LLAMA_CPP
