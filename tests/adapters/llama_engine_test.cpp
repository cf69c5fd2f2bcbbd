// SPDX-License-Identifier: Apache-2.0
// The llama.cpp adapter's logic (batching, fork/release mapping, step splitting, errors) against a fake llama.cpp.

#include <reckon/adapters/detail/llama_engine.hpp>
#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/stepping_model.hpp>

#include <support/catch.hpp>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using reckon::errc;
using reckon::llama_cpp::batch_entry;

// Behaves like a llama_context with a unified KV cache: per-sequence token positions that must be
// contiguous, logits only for flagged rows, seq_cp sharing a whole sequence, seq_rm removing a
// range. Its "model" scores the next token from a hash of the sequence's content, so a
// sequence's logits depend on its own tokens only (never on the batch around it).
struct fake_llama {
  static constexpr std::int32_t bos = 9;
  static constexpr std::int32_t eos = 0;
  // 0 <eos>, 1 "\n\n", 2 "a", 3 " b", 4 "\n", 5 "c.", 6 "7", 7 " d", 8 "=", 9 <bos>
  static constexpr std::uint32_t vocab = 10;

  std::uint32_t seqs = 4;
  std::uint32_t batch = 64;
  std::uint32_t ctx = 512;
  bool partial_rm = true;
  std::int32_t force_eos_at = 1 << 30;   // position from which <eos> dominates
  std::int32_t nan_at = 1 << 30;         // position from which the rows hold a NaN
  std::vector<std::int32_t> script;      // return codes of the next decodes (then 0)
  std::vector<std::vector<std::int32_t>> kv = std::vector<std::vector<std::int32_t>>(64);
  std::vector<std::vector<batch_entry>> history; // every decode's batch
  std::vector<batch_entry> last;
  std::vector<std::vector<float>> rows;

  [[nodiscard]] std::uint32_t n_seq_max() const { return seqs; }
  [[nodiscard]] std::uint32_t n_batch() const { return batch; }
  [[nodiscard]] std::uint32_t n_ctx() const { return ctx; }

  std::vector<std::int32_t> tokenize(std::string_view text, bool add_special) {
    std::vector<std::int32_t> out;
    if (text.empty()) return out;
    if (add_special) out.push_back(bos);
    for (const char c : text) out.push_back(c == 'a' ? 2 : c == 'b' ? 3 : c == '\n' ? 4 : c == '=' ? 8 : 5);
    return out;
  }
  std::string piece(std::int32_t t) {
    static const char* pieces[] = {"", "\n\n", "a", " b", "\n", "c.", "7", " d", "=", ""};
    return pieces[t];
  }
  [[nodiscard]] bool is_eog(std::int32_t t) const { return t == eos; }

  static std::vector<float> model(const std::vector<std::int32_t>& context, std::int32_t force_eos_at) {
    std::uint64_t h = 1469598103934665603ULL;
    for (const auto t : context) h = (h ^ static_cast<std::uint64_t>(t)) * 1099511628211ULL;
    std::vector<float> row(vocab);
    for (std::uint32_t v = 0; v < vocab; ++v) {
      const std::uint64_t x = (h ^ (v * 0x9E3779B97F4A7C15ULL)) * 0xBF58476D1CE4E5B9ULL;
      row[v] = static_cast<float>((x >> 40) % 1000) / 250.0f;
    }
    row[eos] -= 3.0f;
    row[bos] = -30.0f;
    if (static_cast<std::int32_t>(context.size()) >= force_eos_at) row[eos] = 100.0f;
    return row;
  }

  std::int32_t decode(std::span<const batch_entry> entries) {
    history.emplace_back(entries.begin(), entries.end());
    if (!script.empty()) {
      const std::int32_t rc = script.front();
      script.erase(script.begin());
      if (rc != 0) return rc;
    }
    if (entries.empty() || entries.size() > batch) return -1;
    auto next = kv;
    last.assign(entries.begin(), entries.end());
    rows.assign(entries.size(), {});
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      if (e.seq < 0 || static_cast<std::uint32_t>(e.seq) >= seqs) return -1;
      auto& cells = next[static_cast<std::size_t>(e.seq)];
      if (e.pos != static_cast<std::int32_t>(cells.size())) return -1; // positions must be contiguous
      cells.push_back(e.token);
      if (e.logits) rows[i] = model(cells, force_eos_at);
      if (e.logits && static_cast<std::int32_t>(cells.size()) >= nan_at) rows[i][3] = std::nanf("");
    }
    kv = std::move(next);
    return 0;
  }
  std::span<const float> logits(std::int32_t i) {
    if (rows.at(static_cast<std::size_t>(i)).empty()) throw std::logic_error("logits of a row not flagged for output");
    return rows[static_cast<std::size_t>(i)];
  }
  void seq_cp(std::int32_t src, std::int32_t dst) { kv.at(static_cast<std::size_t>(dst)) = kv.at(static_cast<std::size_t>(src)); }
  bool seq_rm(std::int32_t seq, std::int32_t p0, std::int32_t p1) {
    auto& cells = kv.at(static_cast<std::size_t>(seq));
    const std::size_t from = p0 < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(p0), cells.size());
    const std::size_t to = p1 < 0 ? cells.size() : std::min<std::size_t>(static_cast<std::size_t>(p1), cells.size());
    if (from > 0 && !partial_rm) return false;
    cells.erase(cells.begin() + static_cast<std::ptrdiff_t>(from), cells.begin() + static_cast<std::ptrdiff_t>(to));
    return true;
  }
};

using engine = reckon::llama_cpp::basic_engine<fake_llama>;
static_assert(reckon::llama_cpp::backend<fake_llama>);
static_assert(reckon::sampling_model<engine>);
static_assert(reckon::stepping_model<engine>);
static_assert(reckon::logprob_model<engine>);
static_assert(reckon::rollback_model<engine>);

engine make(fake_llama f = {}) { return engine(std::move(f)); }

reckon::step_params greedy_steps() {
  reckon::step_params p;
  p.temperature = 0.0f;
  p.max_step_tokens = 12;
  p.max_total_tokens = 40;
  return p;
}

const reckon::problem prob{.id = 1, .prompt = "aab=ab=\nba"}; // 10 characters: 11 tokens with BOS

} // namespace

TEST_CASE("llama_cpp: sequences are seq ids from a free list bounded by n_seq_max", "[adapters][llama_cpp]") {
  auto e = make();
  std::vector<engine::sequence> s;
  for (int i = 0; i < 4; ++i) s.push_back(e.begin(prob).value());
  CHECK(s == std::vector<engine::sequence>{0, 1, 2, 3});
  CHECK(e.begin(prob).error().code == errc::no_capacity);
  CHECK(e.fork(s[0]).error().code == errc::no_capacity);
  CHECK(e.live() == 4);
  // Extend two, then release one: its KV is removed whole and its id is reused.
  const std::uint64_t seeds[] = {1, 2};
  REQUIRE(e.extend(std::span(s).subspan(1, 2), greedy_steps(), seeds));
  CHECK_FALSE(e.backend().kv[2].empty());
  e.release(s[2]);
  CHECK(e.backend().kv[2].empty());
  CHECK(e.live() == 3);
  CHECK(e.begin(prob).value() == 2);
  e.release(7);  // not live: ignored
  e.release(-1); // idem
  CHECK(e.live() == 4);
}

TEST_CASE("llama_cpp: fork shares the prefill; extend is one batch per round for all sequences", "[adapters][llama_cpp]") {
  auto e = make();
  const auto root = e.begin(prob).value();
  std::vector<engine::sequence> seqs{root};
  for (int i = 0; i < 3; ++i) seqs.push_back(e.fork(root).value());
  auto& fake = e.backend();
  // The prompt but its last token was decoded once, for the root, with no logits; children share it.
  REQUIRE(fake.history.size() == 1);
  CHECK(fake.history[0].size() == 10);
  for (const auto& entry : fake.history[0]) CHECK_FALSE(entry.logits);
  for (const auto s : seqs) CHECK(fake.kv[static_cast<std::size_t>(s)] == fake.kv[0]);
  CHECK(e.counters().prefill_saved == 30);

  auto p = greedy_steps();
  p.temperature = 0.8f;
  const std::uint64_t seeds[] = {11, 12, 13, 14};
  auto r = e.extend(seqs, p, seeds);
  REQUIRE(r);
  REQUIRE(fake.history.size() >= 2);
  // Round 1: each sequence's last prompt token, logits flagged; later rounds: one row per
  // unfinished sequence, all flagged.
  CHECK(fake.history[1].size() == 4);
  for (std::size_t k = 1; k < fake.history.size(); ++k) {
    std::vector<std::int32_t> ids;
    for (const auto& entry : fake.history[k]) {
      CHECK(entry.logits);
      ids.push_back(entry.seq);
    }
    CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  }
  std::uint32_t generated = 0;
  for (const auto& st : r->steps) generated += st.tokens;
  CHECK(r->usage.generated_tokens == generated);
  CHECK(r->usage.prefilled_tokens == 10 + 4); // the shared prefill (reported here) + 4 last prompt tokens
  CHECK(r->usage.engine_calls == 2);          // the fork's decode + this call
  CHECK(e.counters().decode_calls == fake.history.size());
}

TEST_CASE("llama_cpp: a sequence's step does not depend on the batch around it", "[adapters][llama_cpp]") {
  auto p = greedy_steps();
  p.temperature = 1.0f;
  p.top_p = 0.9f;
  auto together = make();
  const auto a = together.begin(prob).value();
  const auto b = together.fork(a).value();
  const engine::sequence both[] = {a, b};
  const std::uint64_t seeds[] = {5, 6};
  auto r = together.extend(both, p, seeds).value();

  auto alone = make();
  const auto a2 = alone.begin(prob).value();
  const auto b2 = alone.fork(a2).value();
  const engine::sequence only_b[] = {b2};
  const std::uint64_t seed_b[] = {6};
  auto rb = alone.extend(only_b, p, seed_b).value();
  CHECK(rb.steps[0].text == r.steps[1].text);
  CHECK(rb.steps[0].tokens == r.steps[1].tokens);
  CHECK(r.steps[0].text != r.steps[1].text); // different seeds, different samples (for this fake)
}

TEST_CASE("llama_cpp: steps end at the delimiter, the step cap, the total cap or EOS", "[adapters][llama_cpp]") {
  SECTION("delimiter and caps") {
    auto e = make();
    const auto s = e.begin(prob).value();
    const engine::sequence one[] = {s};
    std::string whole;
    bool saw_step = false, saw_cap = false;
    for (std::uint32_t round = 0; round < 40; ++round) {
      const std::uint64_t seed[] = {round};
      auto p = greedy_steps();
      p.temperature = 1.0f;
      p.max_step_tokens = 4;
      auto r = e.extend(one, p, seed).value();
      const auto& st = r.steps[0];
      whole += st.text;
      if (st.finish == reckon::finish_reason::step) {
        saw_step = true;
        CHECK(st.text.size() >= 2);
        CHECK(st.text.substr(st.text.size() - 2) == "\n\n");
        CHECK(st.text.substr(0, st.text.size() - 2).find("\n\n") == std::string::npos);
      }
      if (st.finish == reckon::finish_reason::length && !st.done) {
        saw_cap = true;
        CHECK(st.tokens == 4);
      }
      if (st.done) {
        CHECK(st.finish != reckon::finish_reason::eos); // max_total_tokens = 40 ended it
        CHECK(e.extend(one, p, seed).error().code == errc::invalid_argument);
        break;
      }
    }
    CHECK(saw_step);
    CHECK(saw_cap);
    // The steps concatenate to the generated tokens' text (the KV holds all but the last token).
    auto& fake = e.backend();
    std::string decoded;
    const auto& cells = fake.kv[static_cast<std::size_t>(s)];
    for (std::size_t i = 11; i < cells.size(); ++i) decoded += fake.piece(cells[i]);
    CHECK(whole.substr(0, decoded.size()) == decoded);
    CHECK(cells.size() - 11 == 39); // 40 generated, the last one not yet decoded
  }
  SECTION("EOS") {
    fake_llama f;
    f.force_eos_at = 14;
    auto e = make(f);
    const auto s = e.begin(prob).value();
    const engine::sequence one[] = {s};
    const std::uint64_t seed[] = {3};
    auto r = e.extend(one, greedy_steps(), seed).value();
    CHECK(r.steps[0].finish == reckon::finish_reason::eos);
    CHECK(r.steps[0].done);
    CHECK(r.steps[0].tokens == 4);
  }
}

TEST_CASE("llama_cpp: token statistics come from the logits rows", "[adapters][llama_cpp]") {
  auto e = make();
  const auto s = e.begin(prob).value();
  const engine::sequence one[] = {s};
  const std::uint64_t seed[] = {9};
  auto p = greedy_steps();
  p.stats = {.logprobs = true, .entropy = true, .top_k = 3};
  auto r = e.extend(one, p, seed).value();
  const auto& st = r.steps[0];
  REQUIRE(st.stats.logprob.size() == st.tokens);
  REQUIRE(st.stats.entropy.size() == st.tokens);
  REQUIRE(st.stats.varentropy.size() == st.tokens);
  REQUIRE(st.stats.top_logprobs.size() == 3 * st.tokens);
  // Recompute the first token's statistics from the fake's row.
  auto& fake = e.backend();
  const auto& cells = fake.kv[static_cast<std::size_t>(s)];
  const std::vector<std::int32_t> context(cells.begin(), cells.begin() + 11);
  const auto row = fake_llama::model(context, fake.force_eos_at);
  double z = 0;
  for (const float l : row) z += std::exp(static_cast<double>(l));
  const auto chosen = static_cast<std::size_t>(std::max_element(row.begin(), row.end()) - row.begin()); // greedy
  CHECK(st.stats.logprob[0] == Approx(row[chosen] - std::log(z)).margin(1e-4));
  CHECK(st.stats.top_logprobs[0] == Approx(st.stats.logprob[0]).margin(1e-6)); // greedy picks the top token
  CHECK(st.stats.top_logprobs[0] >= st.stats.top_logprobs[1]);
  CHECK(st.stats.top_logprobs[1] >= st.stats.top_logprobs[2]);
  double h = 0;
  for (const float l : row) {
    const double lp = l - std::log(z);
    h -= std::exp(lp) * lp;
  }
  CHECK(st.stats.entropy[0] == Approx(h).margin(1e-4));
  CHECK(st.stats.varentropy[0] >= 0.0f);
}

TEST_CASE("llama_cpp: llama_decode's codes map to errors and leave every sequence as it was", "[adapters][llama_cpp]") {
  const auto param = GENERATE(std::pair{1, errc::no_capacity}, std::pair{2, errc::aborted},
                              std::pair{-1, errc::engine_failure}, std::pair{-3, errc::engine_failure});
  const std::int32_t code = param.first; // not a structured binding: clang 14 cannot capture those
  const errc expected = param.second;
  auto run = [&](bool fail_once) {
    auto e = make();
    const auto a = e.begin(prob).value();
    const auto b = e.fork(a).value();
    const engine::sequence both[] = {a, b};
    const std::uint64_t seeds[] = {1, 2};
    auto p = greedy_steps();
    p.temperature = 0.7f;
    // Fail in the third round of the call, after two rounds were decoded.
    if (fail_once) e.backend().script = {0, 0, code};
    auto first = e.extend(both, p, seeds);
    if (fail_once) {
      REQUIRE_FALSE(first);
      CHECK(first.error().code == expected);
      CHECK(e.backend().kv[0].size() == 10);
      CHECK(e.backend().kv[1].size() == 10);
      first = e.extend(both, p, seeds);
      REQUIRE(first);
      CHECK(e.counters().failed_decodes == 1);
    }
    return std::pair{first.value(), e.counters()};
  };
  const auto [clean, clean_counters] = run(false);
  const auto [retried, retried_counters] = run(true);
  CHECK(retried.steps == clean.steps);
  // The two rounds decoded before the failure are reported once, by the next call.
  CHECK(retried.usage.generated_tokens == clean.usage.generated_tokens + 4);
  CHECK(retried.usage.prefilled_tokens == clean.usage.prefilled_tokens + 2);
  CHECK(retried.usage.engine_calls == clean.usage.engine_calls);
  CHECK(retried_counters.generated_tokens == clean_counters.generated_tokens + 4);
}

TEST_CASE("llama_cpp: a NaN logits row is an engine failure, not an exception", "[adapters][llama_cpp]") {
  fake_llama f;
  f.nan_at = 13;
  auto e = make(f);
  const auto s = e.begin(prob).value();
  const engine::sequence one[] = {s};
  const std::uint64_t seed[] = {1};
  auto p = greedy_steps();
  p.stats.entropy = true;
  auto r = e.extend(one, p, seed);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::engine_failure);
  CHECK(e.backend().kv[static_cast<std::size_t>(s)].empty()); // restored: nothing of the call stays
}

TEST_CASE("llama_cpp: rollback drops generated tokens, or says it cannot", "[adapters][llama_cpp]") {
  auto e = make();
  const auto s = e.begin(prob).value();
  const engine::sequence one[] = {s};
  const std::uint64_t seed[] = {4};
  auto p = greedy_steps();
  p.temperature = 0.0f;
  const auto first = e.extend(one, p, seed).value();
  REQUIRE(first.steps[0].tokens >= 2);
  CHECK(e.rollback(s, first.steps[0].tokens + 1).error().code == errc::invalid_argument);
  REQUIRE(e.rollback(s, first.steps[0].tokens));
  CHECK(e.backend().kv[static_cast<std::size_t>(s)].size() == 10);
  const auto again = e.extend(one, p, seed).value();
  CHECK(again.steps[0] == first.steps[0]); // greedy: the same step again
  CHECK(e.rollback(99, 1).error().code == errc::invalid_argument);

  fake_llama f;
  f.partial_rm = false;
  auto r = make(f);
  const auto t = r.begin(prob).value();
  const engine::sequence only[] = {t};
  REQUIRE(r.extend(only, p, seed));
  CHECK(r.rollback(t, 1).error().code == errc::unsupported);
}

TEST_CASE("llama_cpp: sample forks the prompt, runs in waves, cuts stop strings", "[adapters][llama_cpp]") {
  fake_llama f;
  f.batch = 3; // every decode is sliced to at most 3 rows (the fake rejects more)
  auto e = make(f);
  reckon::sampling_params sp;
  sp.max_tokens = 16;
  sp.seed = 77;
  sp.stop = {"c."};
  sp.stats.logprobs = true;
  auto r = e.sample(prob, sp, 6);
  REQUIRE(r);
  REQUIRE(r->completions.size() == 6);
  std::uint32_t generated = 0;
  bool saw_stop = false;
  for (std::size_t i = 0; i < 6; ++i) {
    const auto& c = r->completions[i];
    CHECK(c.source == i);
    CHECK(c.stats.logprob.size() == c.tokens);
    CHECK(c.text.find("c.") == std::string::npos);
    if (c.finish == reckon::finish_reason::stop) saw_stop = true;
    generated += c.tokens;
  }
  CHECK(saw_stop);
  CHECK(r->usage.generated_tokens == generated);
  // Two waves (4 + 2 slots); each prefills the prompt once: 10 shared + one last token per sequence.
  CHECK(r->usage.prefilled_tokens == (10 + 4) + (10 + 2));
  CHECK(e.live() == 0);
  for (const auto& batch : e.backend().history) CHECK(batch.size() <= 3);

  // Completion i is keyed by request_seed(seed, i): the same with a larger context.
  auto wide = make();
  auto r2 = wide.sample(prob, sp, 6);
  REQUIRE(r2);
  CHECK(r2->completions == r->completions);
}

TEST_CASE("llama_cpp: misuse is reported, not acted on", "[adapters][llama_cpp]") {
  auto e = make();
  CHECK(e.begin({.id = 1, .prompt = ""}).error().code == errc::invalid_argument);
  fake_llama small;
  small.ctx = 8;
  auto tiny = make(small);
  CHECK(tiny.begin(prob).error().code == errc::invalid_argument);
  CHECK(e.fork(0).error().code == errc::invalid_argument);
  const auto s = e.begin(prob).value();
  const engine::sequence twice[] = {s, s};
  const std::uint64_t two[] = {1, 2};
  const std::uint64_t one[] = {1};
  CHECK(e.extend(twice, greedy_steps(), two).error().code == errc::invalid_argument);
  CHECK(e.extend(std::span(twice).first(1), greedy_steps(), two).error().code == errc::invalid_argument);
  auto bad = greedy_steps();
  bad.delimiter.clear();
  CHECK(e.extend(std::span(twice).first(1), bad, one).error().code == errc::invalid_argument);
  bad = greedy_steps();
  bad.top_p = 0.0f;
  CHECK(e.extend(std::span(twice).first(1), bad, one).error().code == errc::invalid_argument);
  e.release(s);
  CHECK(e.extend(std::span(twice).first(1), greedy_steps(), one).error().code == errc::invalid_argument);
  CHECK(e.sample(prob, {}, 0).error().code == errc::invalid_argument);
  CHECK(e.backend().history.empty());
  fake_llama none;
  none.seqs = 0;
  CHECK_THROWS_AS(make(none), reckon::exception);
}

TEST_CASE("regression #21.6: a fork after a step re-decodes the pending token, and the ledger counts it",
          "[adapters][llama_cpp]") {
  auto e = make(fake_llama{.seqs = 8});
  auto p = greedy_steps();
  p.temperature = 0.9f;
  p.max_step_tokens = 3;
  const auto root = e.begin(prob).value();
  reckon::usage reported;
  std::uint64_t seed = 1;
  std::vector<engine::sequence> live{root};
  for (int round = 0; round < 3; ++round) {
    // Fork every live sequence after its step: each child shares the parent's sampled, undecoded token.
    const std::size_t parents = live.size();
    for (std::size_t i = 0; i < parents && live.size() < 8; ++i) live.push_back(e.fork(live[i]).value());
    std::vector<std::uint64_t> seeds;
    for (std::size_t i = 0; i < live.size(); ++i) seeds.push_back(seed++);
    auto r = e.extend(live, p, seeds);
    REQUIRE(r);
    reported += r->usage;
    std::vector<engine::sequence> still;
    for (std::size_t i = 0; i < live.size(); ++i)
      if (!r->steps[i].done) still.push_back(live[i]);
      else e.release(live[i]);
    live = still;
    if (live.empty()) break;
  }
  // Every decoded row is either prefill or the decode of a token sampled in that same sequence.
  CHECK(reported.prefilled_tokens == e.counters().prefilled_tokens);
  CHECK(reported.prefilled_tokens + reported.generated_tokens >= e.counters().decoded_tokens);
  std::uint64_t pending = 0; // sampled but never decoded: the last token of each live sequence
  for (const auto s : live) (void)s, ++pending;
  CHECK(reported.prefilled_tokens + reported.generated_tokens == e.counters().decoded_tokens + pending);
}

TEST_CASE("regression #21.7: the earliest stop string wins, whatever the list's order", "[adapters][llama_cpp]") {
  // The piece "c." holds both markers: "." listed first must not win over the earlier "c".
  reckon::sampling_params sp;
  sp.temperature = 1.0f;
  sp.max_tokens = 24;
  int checked = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    sp.seed = seed;
    sp.stop.clear();
    auto free_run = make();
    const std::string text = free_run.sample(prob, sp, 1).value().completions[0].text;
    const std::size_t at = text.find('c');
    if (at == std::string::npos) continue;
    sp.stop = {".", "c"};
    auto cut = make();
    const auto got = cut.sample(prob, sp, 1).value().completions[0];
    CHECK(got.text == text.substr(0, at));
    CHECK(got.finish == reckon::finish_reason::stop);
    ++checked;
  }
  CHECK(checked >= 5);
}

TEST_CASE("regression #21.7: a delimiter split across a step cut by its token cap ends the next step",
          "[adapters][llama_cpp]") {
  // One-token steps: "\n" then "\n" across two steps is the delimiter "\n\n" split by the cap.
  auto p = greedy_steps();
  p.temperature = 1.0f;
  p.max_step_tokens = 1;
  p.max_total_tokens = 60;
  int split_seen = 0;
  for (std::uint64_t seed = 1; seed <= 60 && split_seen < 3; ++seed) {
    auto e = make();
    const auto s = e.begin(prob).value();
    std::string previous;
    for (int k = 0; k < 60; ++k) {
      const std::uint64_t seeds[] = {seed * 1000 + static_cast<std::uint64_t>(k)};
      const engine::sequence one[] = {s};
      auto r = e.extend(one, p, seeds);
      REQUIRE(r);
      const auto& st = r->steps[0];
      if (!previous.empty() && previous.back() == '\n' && !st.text.empty() && st.text.front() == '\n') {
        ++split_seen;
        CHECK(st.finish == reckon::finish_reason::step);
      }
      if (st.done) break;
      previous = st.finish == reckon::finish_reason::step ? std::string() : st.text;
    }
  }
  CHECK(split_seen > 0);
}
