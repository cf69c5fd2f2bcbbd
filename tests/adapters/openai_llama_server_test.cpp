// SPDX-License-Identifier: Apache-2.0
// reckon's OpenAI adapters against a REAL llama-server (needs one running; skipped otherwise).

// Built where reckon::openai exists (RECKON_TEST_OPENAI). The server is named by the environment
// variable RECKON_TEST_LLAMA_SERVER_URL, e.g. http://127.0.0.1:8088 for
//   llama-server -m tiny-llama-random.gguf --host 127.0.0.1 --port 8088 -np 4 -c 8192
// Its slot count is read from /props (total_slots). Without the variable the cases only warn.
// What they check is what the fixture tests assume of llama-server's wire format.
#if defined(RECKON_TEST_OPENAI)

#include <reckon/adapters/openai.hpp>
#include <reckon/adapters/openai_judge.hpp>
#include <reckon/adapters/openai_stepping.hpp>

#include <support/catch.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace {

namespace oa = reckon::openai;

const char* server_url() { return std::getenv("RECKON_TEST_LLAMA_SERVER_URL"); }

oa::client_params server_params() {
  oa::client_params p;
  p.url = server_url();
  p.max_in_flight = 4;
  p.max_n_per_request = 4;
  p.backoff_seconds = 0.05;
  return p;
}

// /props's total_slots (llama-server's -np), or nullopt.
std::optional<std::uint32_t> server_slots() {
  httplib::Client c(server_url());
  auto r = c.Get("/props");
  if (!r || r->status != 200) return std::nullopt;
  const auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("total_slots") || !j["total_slots"].is_number_unsigned()) return std::nullopt;
  return j["total_slots"].get<std::uint32_t>();
}

// /props's default_generation_settings.n_ctx: a slot's context (--ctx-size / --parallel), or nullopt.
std::optional<std::uint32_t> slot_context() {
  httplib::Client c(server_url());
  auto r = c.Get("/props");
  if (!r || r->status != 200) return std::nullopt;
  const auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("default_generation_settings")) return std::nullopt;
  const auto& g = j["default_generation_settings"];
  if (!g.is_object() || !g.contains("n_ctx") || !g["n_ctx"].is_number_unsigned()) return std::nullopt;
  return g["n_ctx"].get<std::uint32_t>();
}

const reckon::problem question{.id = 1, .prompt = "Question: what is 6 times 7? Think step by step.\nAnswer:"};

} // namespace

#define RECKON_NEED_SERVER()                                              \
  if (server_url() == nullptr) {                                          \
    WARN("RECKON_TEST_LLAMA_SERVER_URL not set: skipped");                \
    return;                                                               \
  }

TEST_CASE("openai (real llama-server): statistics per token, usage per choice, seeds repeat",
          "[adapters][openai][llama_server_real]") {
  RECKON_NEED_SERVER();
  oa::model m(server_params());
  reckon::sampling_params sp;
  sp.max_tokens = 24;
  sp.seed = 11;
  sp.stats = {.logprobs = true, .entropy = true, .top_k = 5};
  auto r = m.sample(question, sp, 8); // two requests of n = 4
  REQUIRE(r);
  REQUIRE(r->completions.size() == 8);
  std::uint64_t tokens = 0;
  for (const auto& c : r->completions) {
    CHECK(c.stats.logprob.size() == c.tokens);
    CHECK(c.stats.entropy.size() == c.tokens);
    CHECK(c.stats.top_logprobs.size() == 5 * c.tokens);
    for (std::size_t t = 0; t < c.tokens; ++t) CHECK(c.stats.top_logprobs[5 * t] >= c.stats.logprob[t] - 1e-4f);
    tokens += c.tokens;
  }
  CHECK(r->usage.generated_tokens >= tokens);
  CHECK(r->usage.engine_calls >= 2); // more where a deterministic 500 isolated a completion
  auto again = m.sample(question, sp, 8);
  REQUIRE(again);
  for (std::size_t i = 0; i < 8; ++i) CHECK(again->completions[i].text == r->completions[i].text);

  // Without per-token lists, the count is estimated per choice (llama-server's usage counts only
  // the first): within a factor 1.6 of the exact count of the same completions.
  auto q = server_params();
  q.exact_token_counts = false;
  oa::model loose(q);
  sp.stats = {};
  auto est = loose.sample(question, sp, 8);
  REQUIRE(est);
  for (std::size_t i = 0; i < 8; ++i) CHECK(est->completions[i].text == r->completions[i].text);
  const double ratio = static_cast<double>(est->usage.generated_tokens) / static_cast<double>(r->usage.generated_tokens);
  CHECK(ratio > 1.0 / 1.6);
  CHECK(ratio < 1.6);
}

TEST_CASE("openai (real llama-server): stop strings are cut and reported as stop, alone or among several choices (#21.5)",
          "[adapters][openai][llama_server_real]") {
  RECKON_NEED_SERVER();
  auto p = server_params();
  p.one_request_per_completion = GENERATE(true, false); // n = 1 requests, or n = 4 (usage counts choice 0 only)
  oa::model m(p);
  reckon::sampling_params sp;
  sp.max_tokens = 32;
  sp.seed = 3;
  sp.stop = {"e", "a"}; // frequent in this vocabulary's pieces
  sp.stats = {.logprobs = true};
  auto r = m.sample(question, sp, 12);
  REQUIRE(r);
  int stopped = 0;
  for (const auto& c : r->completions) {
    CHECK(c.text.find('e') == std::string::npos);
    CHECK(c.text.find('a') == std::string::npos);
    CHECK(c.stats.logprob.size() == c.tokens);
    stopped += c.finish == reckon::finish_reason::stop ? 1 : 0;
  }
  CHECK(stopped >= 6);
}

TEST_CASE("openai (real llama-server): n above the slot count is refused with a hint, n in chunks of the slots works",
          "[adapters][openai][llama_server_real]") {
  RECKON_NEED_SERVER();
  const auto slots = server_slots();
  if (!slots) {
    WARN("the server has no /props total_slots: skipped");
    return;
  }
  auto p = server_params();
  p.max_n_per_request = *slots + 1;
  oa::model over(p);
  reckon::sampling_params sp;
  sp.max_tokens = 4;
  auto bad = over.sample(question, sp, *slots + 1);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("max_n_per_request") != std::string::npos);
  p.max_n_per_request = *slots;
  oa::model fits(p);
  auto ok = fits.sample(question, sp, *slots + 1);
  REQUIRE(ok);
  CHECK(ok->completions.size() == *slots + 1);
}

TEST_CASE("openai (real llama-server): stepping sequences, the prefix cache in the ledger, the judge PRM",
          "[adapters][openai][llama_server_real]") {
  RECKON_NEED_SERVER();
  oa::stepping_model sm(server_params());
  const auto root = sm.begin(question).value();
  std::vector<oa::stepping_model::sequence> seqs{root};
  for (int i = 0; i < 3; ++i) seqs.push_back(sm.fork(root).value());
  reckon::step_params p;
  p.max_step_tokens = 12;
  p.max_total_tokens = 36;
  p.delimiter = "e";
  p.stats = {.logprobs = true};
  reckon::usage used;
  int steps = 0;
  for (int round = 0; round < 3 && !seqs.empty(); ++round) {
    std::vector<std::uint64_t> seeds;
    for (std::size_t i = 0; i < seqs.size(); ++i) seeds.push_back(100 * static_cast<std::uint64_t>(round) + i);
    auto r = sm.extend(seqs, p, seeds);
    REQUIRE(r);
    used += r->usage;
    std::vector<oa::stepping_model::sequence> next;
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      const auto& st = r->steps[i];
      CHECK(st.stats.logprob.size() == st.tokens);
      if (st.finish == reckon::finish_reason::step) {
        ++steps;
        CHECK(st.text.find('e') == st.text.size() - 1); // ends at the delimiter, holds no earlier one
      }
      if (!st.done) next.push_back(seqs[i]);
    }
    seqs = next;
  }
  CHECK(steps >= 4);
  // Re-sent prefixes come from the server's prompt cache: less is prefilled than was sent.
  CHECK(used.prefilled_tokens < sm.totals().prompt_tokens);

  oa::judge j(server_params());
  const std::vector<std::string> a{"Six times seven is 42.\n\n", "So the answer is 42.\n\n"};
  const std::vector<std::string> b{"Six times seven is 41.\n\n"};
  const std::vector<reckon::solution_view> candidates{{a, false, 1}, {b, false, 2}};
  auto scores = j.score_steps(question, candidates);
  REQUIRE(scores);
  REQUIRE(scores->size() == 2);
  CHECK((*scores)[0].size() == 2);
  for (const auto& row : *scores)
    for (const double s : row) CHECK((s >= 0.0 && s <= 1.0));
  CHECK(j.judged().judged == 3);
  REQUIRE(j.score_steps(question, candidates));
  CHECK(j.judged().cached == 3);
}

TEST_CASE("openai (real llama-server): a path that fills the slot's context ends there; a prompt past it is an error naming -c / -np (#17.1)",
          "[adapters][openai][llama_server_real]") {
  RECKON_NEED_SERVER();
  const auto n_ctx = slot_context();
  if (!n_ctx || *n_ctx < 64) {
    WARN("the server has no /props default_generation_settings.n_ctx: skipped");
    return;
  }
  auto p = server_params();
  p.max_reseeds = 8; // the test model's invalid-UTF-8 500s (see examples/adapters/openai_particle_filter.cpp)
  oa::stepping_model sm(p);
  std::string words = "Count:";
  for (std::uint32_t i = 0; i + 24 < *n_ctx; ++i) words += " one"; // one token each: about 20 tokens left
  const auto s = sm.begin({.id = 2, .prompt = words}).value();
  reckon::step_params sp;
  sp.max_step_tokens = 48;
  sp.max_total_tokens = 4 * *n_ctx; // the server's context, not this cap, ends the path
  reckon::step last;
  std::uint32_t generated = 0;
  for (std::uint64_t round = 0; round < 16 && !last.done; ++round) {
    auto r = sm.extend(std::span(&s, 1), sp, std::span(&round, 1));
    REQUIRE(r);
    last = r->steps[0];
    generated += static_cast<std::uint32_t>(r->usage.generated_tokens);
  }
  REQUIRE(last.done);
  CHECK(generated < 48); // the slot held the prompt and fewer tokens than one full step
  if (last.finish != reckon::finish_reason::eos) {
    CHECK(last.finish == reckon::finish_reason::length);
    CHECK(last.text.empty());
    CHECK(sm.totals().context_full == 1);
  }

  const auto past = sm.begin({.id = 3, .prompt = words + words}).value();
  const std::uint64_t seed = 1;
  auto e = sm.extend(std::span(&past, 1), sp, std::span(&seed, 1));
  REQUIRE_FALSE(e);
  CHECK(e.error().code == reckon::errc::engine_failure);
  CHECK(e.error().message.find("exceed_context_size_error") != std::string::npos);
  CHECK(e.error().message.find("raise -c or lower -np") != std::string::npos);
}

#endif // RECKON_TEST_OPENAI
