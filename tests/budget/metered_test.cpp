// SPDX-License-Identifier: Apache-2.0
// Tests of metered<M>: same capabilities as M, the ledger's counting rules, errors and exceptions.
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/archetypes.hpp>

#include <support/catch.hpp>

#include <cstdint>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

/// A stepping model with a 10-token prompt: extend reports 10 prefill tokens per sequence not
/// extended before, and 5 generated tokens per step.
struct fake_stepper {
  using reckon_model_concept = reckon::stepping_model_tag;
  using sequence = std::uint32_t;
  static constexpr std::size_t max_sequences = 8;
  static constexpr bool supports_rollback = true;

  reckon::result<sequence> begin(const reckon::problem&) {
    fresh.insert(next);
    return next++;
  }
  reckon::result<sequence> fork(sequence s) {
    if (live_forks >= 3) return reckon::fail(reckon::errc::no_capacity, "full");
    ++live_forks;
    if (fresh.count(s)) fresh.insert(next);
    return next++;
  }
  void release(sequence) noexcept {}
  reckon::result<reckon::step_batch> extend(std::span<const sequence> seqs, const reckon::step_params&,
                                            std::span<const std::uint64_t>) {
    if (throw_next) throw std::runtime_error("decode exploded");
    reckon::step_batch out;
    for (const auto s : seqs) {
      reckon::step st;
      st.tokens = 5;
      out.steps.push_back(st);
      if (fresh.erase(s)) out.usage.prefilled_tokens += 10;
    }
    out.usage.generated_tokens = report_generated ? 5 * seqs.size() : 0;
    out.usage.engine_calls = 1;
    return out;
  }
  reckon::result<void> rollback(sequence, std::uint32_t) { return {}; }

  sequence next = 0;
  int live_forks = 0;
  bool throw_next = false;
  bool report_generated = true;
  std::set<sequence> fresh;
};

/// A sequence handle without std::hash (the meter falls back to a flat table).
struct opaque_handle {
  int id = 0;
  friend bool operator==(const opaque_handle&, const opaque_handle&) = default;
};
struct opaque_stepper {
  using reckon_model_concept = reckon::stepping_model_tag;
  using sequence = opaque_handle;
  reckon::result<sequence> begin(const reckon::problem&) { return opaque_handle{next++}; }
  reckon::result<sequence> fork(sequence) { return opaque_handle{next++}; }
  void release(sequence) noexcept {}
  reckon::result<reckon::step_batch> extend(std::span<const sequence> seqs, const reckon::step_params&,
                                            std::span<const std::uint64_t>) {
    reckon::step_batch out;
    out.steps.resize(seqs.size());
    for (auto& s : out.steps) s.tokens = 2;
    out.usage = {.prefilled_tokens = 0, .generated_tokens = 2 * seqs.size(), .engine_calls = 1};
    return out;
  }
  int next = 0;
};

struct failing_sampler {
  using reckon_model_concept = reckon::sampling_model_tag;
  reckon::result<reckon::sample_batch> sample(const reckon::problem&, const reckon::sampling_params&, std::uint32_t) {
    return reckon::fail(reckon::errc::aborted, "cancelled");
  }
};

struct throwing_sampler {
  using reckon_model_concept = reckon::sampling_model_tag;
  reckon::result<reckon::sample_batch> sample(const reckon::problem&, const reckon::sampling_params&, std::uint32_t) {
    throw 42; // not even a std::exception
  }
};

struct both_rewards {
  using reckon_model_concept =
      reckon::capabilities<reckon::process_reward_model_tag, reckon::outcome_reward_model_tag>;
  reckon::result<std::vector<std::vector<double>>> score_steps(const reckon::problem&,
                                                               std::span<const reckon::solution_view> c) {
    std::vector<std::vector<double>> out;
    for (const auto& v : c) out.emplace_back(v.steps.size(), 0.25);
    return out;
  }
  reckon::result<std::vector<double>> score_outcomes(const reckon::problem&, std::span<const reckon::solution_view>) {
    throw std::logic_error("orm offline");
  }
};

template <class M>
using meter = reckon::metered<M>;

// Capabilities are forwarded exactly.
static_assert(reckon::sampling_model<meter<reckon::archetypes::sampling_model>>);
static_assert(!reckon::stepping_model<meter<reckon::archetypes::sampling_model>>);
static_assert(reckon::stepping_model<meter<reckon::archetypes::stepping_model>>);
static_assert(!reckon::sampling_model<meter<reckon::archetypes::stepping_model>>);
static_assert(reckon::logprob_model<meter<reckon::archetypes::logprob_model>>);
static_assert(reckon::introspective_model<meter<reckon::archetypes::introspective_model>>);
static_assert(reckon::process_reward_model<meter<reckon::archetypes::process_reward_model>>);
static_assert(!reckon::outcome_reward_model<meter<reckon::archetypes::process_reward_model>>);
static_assert(reckon::outcome_reward_model<meter<reckon::archetypes::outcome_reward_model>>);
static_assert(reckon::reviser<meter<reckon::archetypes::reviser>>);
static_assert(!reckon::sampling_model<meter<reckon::archetypes::reviser>>);
static_assert(reckon::rollback_model<meter<fake_stepper>>);
static_assert(!reckon::rollback_model<meter<reckon::archetypes::stepping_model>>);
static_assert(reckon::stepping_model<meter<fake_stepper&>>);
static_assert(std::is_same_v<meter<fake_stepper>::sequence, std::uint32_t>);
static_assert(reckon::model_traits<meter<fake_stepper>>::max_sequences == 8);
static_assert(reckon::model_traits<meter<reckon::archetypes::logprob_model>>::logprob_top_k == 20);
static_assert(reckon::model_traits<meter<reckon::archetypes::sampling_model>>::max_sequences ==
              reckon::model_traits<reckon::archetypes::sampling_model>::max_sequences);
// A meter of a meter is still the same model.
static_assert(reckon::stepping_model<meter<meter<fake_stepper>>>);

} // namespace

TEST_CASE("metered counts a sampling call", "[budget][metered]") {
  reckon::archetypes::sampling_model base;
  reckon::metered m{base}; // by reference
  static_assert(std::is_same_v<decltype(m), reckon::metered<reckon::archetypes::sampling_model&>>);
  auto out = m.sample(reckon::problem{1, "2+2?"}, reckon::sampling_params{}, 4);
  REQUIRE(out);
  CHECK(out->completions.size() == 4);
  const auto& l = m.ledger();
  CHECK(l.engine_calls == 1);
  CHECK(l.generated_tokens == 32);
  CHECK(l.prefilled_tokens == 0);
  CHECK(l.serial_depth == 1);
  CHECK(l.peak_live_sequences == 4);
  CHECK(l.peak_kv_tokens == 32);
  CHECK(l.wall_seconds >= 0.0);
  CHECK(m.live_sequences() == 0);
}

TEST_CASE("metered tracks live sequences, KV tokens and depth of a stepping model", "[budget][metered]") {
  reckon::metered m{fake_stepper{}}; // by value
  static_assert(std::is_same_v<decltype(m), reckon::metered<fake_stepper>>);
  const reckon::problem p{7, "prompt"};
  auto root = m.begin(p);
  REQUIRE(root);
  auto a = m.fork(*root);
  auto b = m.fork(*root);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(m.live_sequences() == 3);
  CHECK(m.kv_tokens() == 0);

  // First extend: 3 fresh sequences, prefill 30 split 10 each, 5 generated each.
  std::vector<std::uint32_t> seqs{*root, *a, *b};
  std::vector<std::uint64_t> seeds{1, 2, 3};
  REQUIRE(m.extend(seqs, reckon::step_params{}, seeds));
  CHECK(m.ledger().prefilled_tokens == 30);
  CHECK(m.ledger().generated_tokens == 15);
  CHECK(m.kv_tokens() == 45);

  // A fork of an extended sequence shares its 15 tokens (logical KV).
  auto c = m.fork(*a);
  REQUIRE(c);
  CHECK(m.kv_tokens() == 60);
  CHECK(m.ledger().peak_live_sequences == 4);
  // Capacity errors pass through unchanged and change nothing.
  auto full = m.fork(*a);
  REQUIRE_FALSE(full);
  CHECK(full.error().code == reckon::errc::no_capacity);
  CHECK(m.live_sequences() == 4);

  m.release(*root);
  m.release(*b);
  CHECK(m.live_sequences() == 2);
  CHECK(m.kv_tokens() == 30);
  std::vector<std::uint32_t> two{*a, *c};
  REQUIRE(m.extend(two, reckon::step_params{}, std::span<const std::uint64_t>(seeds).first(2)));
  CHECK(m.kv_tokens() == 40);
  REQUIRE(m.rollback(*a, 3));
  CHECK(m.kv_tokens() == 37);
  REQUIRE(m.rollback(*a, 1000)); // clamps at the sequence's length
  CHECK(m.kv_tokens() == 20);

  const auto& l = m.ledger();
  CHECK(l.engine_calls == 2);
  CHECK(l.serial_depth == 2);
  CHECK(l.generated_tokens == 25);
  CHECK(l.peak_live_sequences == 4);
  CHECK(l.peak_kv_tokens == 60);

  m.reset_ledger();
  CHECK(m.ledger().engine_calls == 0);
  CHECK(m.ledger().peak_live_sequences == 2);
  CHECK(m.ledger().peak_kv_tokens == 20);
}

TEST_CASE("metered falls back to step token counts when usage reports none", "[budget][metered]") {
  fake_stepper base;
  base.report_generated = false;
  reckon::metered m{base};
  auto s = m.begin(reckon::problem{});
  REQUIRE(s);
  std::vector<std::uint32_t> seqs{*s};
  std::vector<std::uint64_t> seeds{0};
  REQUIRE(m.extend(seqs, reckon::step_params{}, seeds));
  CHECK(m.ledger().generated_tokens == 5);
}

TEST_CASE("metered works with handles that have no std::hash", "[budget][metered]") {
  reckon::metered m{opaque_stepper{}};
  auto s = m.begin(reckon::problem{});
  REQUIRE(s);
  auto t = m.fork(*s);
  REQUIRE(t);
  std::vector<opaque_handle> seqs{*s, *t};
  std::vector<std::uint64_t> seeds{0, 1};
  REQUIRE(m.extend(seqs, reckon::step_params{}, seeds));
  CHECK(m.kv_tokens() == 4);
  m.release(*s);
  CHECK(m.kv_tokens() == 2);
  CHECK(m.live_sequences() == 1);
}

TEST_CASE("metered passes errors through and turns exceptions into engine_failure", "[budget][metered]") {
  reckon::metered f{failing_sampler{}};
  auto out = f.sample(reckon::problem{}, reckon::sampling_params{}, 2);
  REQUIRE_FALSE(out);
  CHECK(out.error() == reckon::fail(reckon::errc::aborted, "cancelled"));
  CHECK(f.ledger().engine_calls == 1);
  CHECK(f.ledger().generated_tokens == 0);

  reckon::metered t{throwing_sampler{}};
  auto thrown = t.sample(reckon::problem{}, reckon::sampling_params{}, 2);
  REQUIRE_FALSE(thrown);
  CHECK(thrown.error().code == reckon::errc::engine_failure);

  fake_stepper base;
  reckon::metered s{base};
  auto seq = s.begin(reckon::problem{});
  REQUIRE(seq);
  base.throw_next = true;
  std::vector<std::uint32_t> seqs{*seq};
  std::vector<std::uint64_t> seeds{0};
  auto step = s.extend(seqs, reckon::step_params{}, seeds);
  REQUIRE_FALSE(step);
  CHECK(step.error().code == reckon::errc::engine_failure);
  CHECK(step.error().message.find("decode exploded") != std::string::npos);
}

TEST_CASE("metered counts reward-model calls and estimated tokens", "[budget][metered]") {
  reckon::metered r{both_rewards{}};
  const std::vector<std::string> s1{"abcd", "efghi"}; // 9 chars -> 3 tokens
  const std::vector<std::string> s2{"xy"};            // 2 chars -> 1 token
  const std::vector<reckon::solution_view> cands{{s1, false, 0}, {s2, true, 0}};
  auto scores = r.score_steps(reckon::problem{}, cands);
  REQUIRE(scores);
  CHECK((*scores)[0].size() == 2);
  CHECK(r.ledger().prm_calls == 1);
  CHECK(r.ledger().prm_tokens == 4);
  auto outcomes = r.score_outcomes(reckon::problem{}, cands);
  REQUIRE_FALSE(outcomes);
  CHECK(outcomes.error().code == reckon::errc::engine_failure);
  CHECK(outcomes.error().message.find("orm offline") != std::string::npos);
  CHECK(r.ledger().prm_calls == 2);
  CHECK(r.ledger().engine_calls == 0);
}

TEST_CASE("metered counts a revision like a sampling call", "[budget][metered]") {
  reckon::metered r{reckon::archetypes::reviser{}};
  const std::vector<std::string> steps{"a", "b"};
  const std::vector<double> feedback{0.5, 0.5};
  const std::vector<reckon::revision_request> reqs{{{steps, true, 0}, feedback, false, 0}};
  auto out = r.revise(reckon::problem{}, reqs, reckon::sampling_params{});
  REQUIRE(out);
  CHECK(r.ledger().engine_calls == 1);
  CHECK(r.ledger().serial_depth == 1);
}

namespace {
/// A stepping model whose engine shares prefixes: the prompt's 10 tokens are prefilled once per
/// call that has a fresh sequence, every step is 5 tokens; no capacity limit.
struct sharing_stepper {
  using reckon_model_concept = reckon::stepping_model_tag;
  using sequence = std::uint32_t;
  static constexpr bool supports_rollback = true;
  reckon::result<sequence> begin(const reckon::problem&) {
    fresh.insert(next);
    return next++;
  }
  reckon::result<sequence> fork(sequence s) {
    if (fresh.count(s)) fresh.insert(next);
    return next++;
  }
  void release(sequence) noexcept {}
  reckon::result<reckon::step_batch> extend(std::span<const sequence> seqs, const reckon::step_params&,
                                            std::span<const std::uint64_t>) {
    reckon::step_batch out;
    bool any_fresh = false;
    for (const auto s : seqs) {
      reckon::step st;
      st.tokens = 5;
      out.steps.push_back(st);
      any_fresh = fresh.erase(s) != 0 || any_fresh;
    }
    out.usage = {.prefilled_tokens = any_fresh ? 10U : 0U, .generated_tokens = 5 * seqs.size(), .engine_calls = 1};
    return out;
  }
  reckon::result<void> rollback(sequence, std::uint32_t) { return {}; }
  sequence next = 0;
  std::set<sequence> fresh;
};

struct counted_prm {
  using reckon_model_concept = reckon::process_reward_model_tag;
  reckon::result<std::vector<std::vector<double>>> score_steps(const reckon::problem&,
                                                               std::span<const reckon::solution_view> c) {
    return std::vector<std::vector<double>>(c.size(), std::vector<double>{0.5});
  }
  [[nodiscard]] std::uint64_t tokens_last_call() const noexcept { return 17; }
};
} // namespace

TEST_CASE("metered's shared KV stores each prefix once: forks share, releases and rollbacks free", "[budget][metered]") {
  reckon::metered m{sharing_stepper{}};
  const reckon::problem p{7, "prompt"};
  const auto r = m.begin(p).value();
  const auto a = m.fork(r).value();
  const auto b = m.fork(r).value();
  const std::vector<std::uint64_t> seeds{1, 2, 3};
  std::vector<std::uint32_t> three{r, a, b};
  REQUIRE(m.extend(three, reckon::step_params{}, seeds));
  // The prompt once (10) and three private steps (15); the logical count gives each its share.
  CHECK(m.ledger().peak_shared_kv_tokens == 25);
  CHECK(m.kv_tokens() == 25);
  const auto c = m.fork(a).value(); // shares a's 15 tokens: nothing new is held
  m.release(r);
  m.release(b);
  std::vector<std::uint32_t> two{a, c};
  REQUIRE(m.extend(two, reckon::step_params{}, std::span<const std::uint64_t>(seeds).first(2)));
  // prompt 10 + a's first step 5 (shared by a and c) + their two new steps: 25. The logical count
  // gives each a's prompt share (3) and both steps: 13 + 13, the shared step twice.
  CHECK(m.ledger().peak_shared_kv_tokens == 25);
  CHECK(m.kv_tokens() == 26);
  CHECK(m.ledger().shared_kv_token_rounds == 50);
  CHECK(m.ledger().mean_shared_kv_tokens() == Approx(25.0));
  // a drops 7 tokens: its own step (5) and 2 of the shared one, which splits; c keeps all of it.
  REQUIRE(m.rollback(a, 7));
  std::vector<std::uint32_t> one{c};
  REQUIRE(m.extend(one, reckon::step_params{}, std::span<const std::uint64_t>(seeds).first(1)));
  // prompt 10 + shared head 3 + c's rest (2 + 5 + 5): 25 after c's step.
  CHECK(m.ledger().shared_kv_token_rounds == 75);
  m.release(c);
  std::vector<std::uint32_t> alone{a};
  REQUIRE(m.extend(alone, reckon::step_params{}, std::span<const std::uint64_t>(seeds).first(1)));
  // Only a is left: the prompt, the 3 tokens it kept and its new step.
  CHECK(m.ledger().shared_kv_token_rounds == 75 + 18);
  m.release(a);
  REQUIRE(m.begin(p)); // a fresh tree: nothing held before its first extend
  m.reset_ledger();
  CHECK(m.ledger().peak_shared_kv_tokens == 0);
}

TEST_CASE("metered's shared KV adds a sampling call's prompt and completions for that round", "[budget][metered]") {
  reckon::metered m{reckon::archetypes::sampling_model{}};
  REQUIRE(m.sample(reckon::problem{1, "q"}, reckon::sampling_params{}, 4));
  CHECK(m.ledger().peak_shared_kv_tokens == 32); // 4 x 8 generated, no prefill reported
  CHECK(m.ledger().shared_kv_token_rounds == 32);
}

TEST_CASE("metered takes a reward model's own token count and counts embedding calls", "[budget][metered]") {
  reckon::metered r{counted_prm{}};
  const std::vector<std::string> s1{"a long step text that the estimate would count as many tokens"};
  const std::vector<reckon::solution_view> cands{{s1, false, 0}};
  REQUIRE(r.score_steps(reckon::problem{}, cands));
  CHECK(r.ledger().prm_tokens == 17);
  reckon::metered e{reckon::archetypes::embedding_model{}};
  static_assert(reckon::embedding_model<decltype(e)>);
  const std::vector<std::string> texts{"abcd", "efgh"};
  REQUIRE(e.embed(texts));
  CHECK(e.ledger().embedding_calls == 1);
  CHECK(e.ledger().embedding_tokens == 8); // the archetype reports its characters as tokens
  CHECK(e.ledger().engine_calls == 0);
}
