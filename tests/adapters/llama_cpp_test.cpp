// SPDX-License-Identifier: Apache-2.0
// reckon::llama_cpp::engine over a real llama.cpp context: KV sharing, capacity, rollback (needs a GGUF file).

// Built only where reckon::llama_cpp exists: tests/CMakeLists.txt links it into
// reckon_adapters_tests and defines RECKON_TEST_LLAMA_CPP. The model is the GGUF file named by the
// environment variable RECKON_TEST_GGUF (e.g. a tiny random-weights llama); without it the cases
// only warn.
#if defined(RECKON_TEST_LLAMA_CPP)

#include <reckon/adapters/llama_cpp.hpp>

#include "llama_test_model.hpp"
#include <support/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

namespace {

namespace lc = reckon::llama_cpp;
using reckon::errc;

lc::engine make(std::uint32_t n_ctx, std::uint32_t n_seq_max) {
  lc::context_params cp;
  cp.n_ctx = n_ctx;
  cp.n_seq_max = n_seq_max;
  cp.n_threads = 1;
  return lc::engine(lc::context_backend(reckon::test::llama_test_model()->get(), cp));
}

const reckon::problem prob{.id = 1, .prompt = "Question: what is 6 times 7? Think step by step."};

} // namespace

TEST_CASE("llama_cpp (real): forks share the prompt's KV and continue it identically", "[adapters][llama_cpp_real]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  auto e = make(1024, 4);
  const auto root = e.begin(prob).value();
  std::vector<lc::engine::sequence> seqs{root};
  for (int i = 0; i < 3; ++i) seqs.push_back(e.fork(root).value());
  // The prompt but its last token was decoded once; each fork shares those cells.
  const auto prompt_cells = e.counters().decoded_tokens;
  CHECK(prompt_cells > 0);
  CHECK(e.counters().prefill_saved == 3 * prompt_cells);
  CHECK(llama_memory_seq_pos_max(llama_get_memory(e.backend().context()), seqs[3]) ==
        static_cast<llama_pos>(prompt_cells) - 1);
  reckon::step_params p;
  p.temperature = 0.0f;
  p.max_step_tokens = 8;
  p.stats = {.logprobs = true, .entropy = true, .top_k = 5};
  const std::vector<std::uint64_t> seeds{1, 2, 3, 4};
  auto r = e.extend(seqs, p, seeds);
  REQUIRE(r);
  for (const auto& st : r->steps) {
    CHECK(st.text == r->steps[0].text); // greedy on the same shared prefix
    CHECK(st.tokens == r->steps[0].tokens);
    REQUIRE(st.stats.entropy.size() == st.tokens);
    CHECK(st.stats.entropy[0] > 0.0f);
    CHECK(st.stats.top_logprobs[0] == Approx(st.stats.logprob[0]).margin(1e-4));
  }
  // Rollback on a real KV cache: greedy again gives the same step.
  REQUIRE(e.rollback(seqs[1], r->steps[1].tokens));
  const std::vector<lc::engine::sequence> one{seqs[1]};
  const std::vector<std::uint64_t> seed{2};
  auto again = e.extend(one, p, seed);
  REQUIRE(again);
  CHECK(again->steps[0].text == r->steps[1].text);
}

TEST_CASE("llama_cpp (real): a full KV cache is no_capacity, and releasing sequences recovers", "[adapters][llama_cpp_real]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  auto e = make(256, 8); // 256 KV cells shared by 8 sequences
  const auto root = e.begin(prob).value();
  std::vector<lc::engine::sequence> seqs{root};
  for (int i = 0; i < 7; ++i) seqs.push_back(e.fork(root).value());
  reckon::step_params p;
  p.temperature = 1.0f;
  p.max_step_tokens = 16;
  p.max_total_tokens = 1000;
  p.delimiter = "\x01\x02"; // never produced: steps end at the step cap
  std::vector<std::uint64_t> seeds{1, 2, 3, 4, 5, 6, 7, 8};
  reckon::result<reckon::step_batch> r = reckon::step_batch{};
  int rounds = 0;
  for (; rounds < 64; ++rounds) {
    r = e.extend(seqs, p, seeds);
    if (!r) break;
  }
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::no_capacity);
  // Prune half the particles; the others go on.
  for (int i = 0; i < 4; ++i) {
    e.release(seqs.back());
    seqs.pop_back();
    seeds.pop_back();
  }
  p.max_step_tokens = 4;
  CHECK(e.extend(seqs, p, seeds));
}

TEST_CASE("llama_cpp (real): sample cuts stop strings, keeps statistics per token, and accounts every decoded row",
          "[adapters][llama_cpp_real]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  auto e = make(2048, 4);
  // A prompt longer than n_batch (512) is prefilled in several llama_decode calls.
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += "one two three ";
  reckon::sampling_params sp;
  sp.max_tokens = 24;
  sp.top_p = 0.9f;
  sp.seed = 5;
  sp.stop = {"e", "a"}; // frequent in this vocabulary's pieces: most completions end at one
  sp.stats = {.logprobs = true, .entropy = true, .top_k = 3};
  auto r = e.sample({.id = 2, .prompt = long_prompt}, sp, 6); // two waves on 4 slots
  REQUIRE(r);
  REQUIRE(r->completions.size() == 6);
  std::uint64_t tokens = 0;
  int stopped = 0;
  for (const auto& c : r->completions) {
    CHECK(c.stats.logprob.size() == c.tokens);
    CHECK(c.stats.entropy.size() == c.tokens);
    CHECK(c.stats.top_logprobs.size() == 3 * c.tokens);
    CHECK(c.text.find('e') == std::string::npos);
    CHECK(c.text.find('a') == std::string::npos);
    stopped += c.finish == reckon::finish_reason::stop ? 1 : 0;
    tokens += c.tokens;
  }
  CHECK(stopped >= 3);
  CHECK(r->usage.generated_tokens == tokens);
  // Every decoded row is in the ledger; the rows it counts but never decoded are each
  // completion's last token, sampled but released before a decode needed it.
  const auto& c = e.counters();
  CHECK(c.decoded_tokens == r->usage.prefilled_tokens + r->usage.generated_tokens - 6);
  CHECK(e.live() == 0);
  // The same call again gives the same completions (reckon's draws follow the seed; one batch shape).
  auto again = e.sample({.id = 2, .prompt = long_prompt}, sp, 6);
  REQUIRE(again);
  for (std::size_t i = 0; i < 6; ++i) CHECK(again->completions[i].text == r->completions[i].text);
}

#endif // RECKON_TEST_LLAMA_CPP
