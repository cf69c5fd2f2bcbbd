// SPDX-License-Identifier: Apache-2.0
// reckon::openai::stepping_model and reckon::openai::judge against a real HTTP server on 127.0.0.1 that
// simulates a served model in vLLM's and llama-server's shapes, with a prefix cache.

// Built only where reckon::openai exists (see openai_test.cpp).
#if defined(RECKON_TEST_OPENAI)

#include <reckon/adapters/openai_judge.hpp>
#include <reckon/adapters/openai_stepping.hpp>
#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/self_rating_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/strategy/beam_search.hpp>
#include <reckon/strategy/particle_filter.hpp>
#include <reckon/strategy/scale.hpp>
#include <reckon/testing/conformance.hpp>

#include "openai_fixture.hpp"
#include <support/catch.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;
using reckon::errc;
namespace oa = reckon::openai;

static_assert(reckon::stepping_model<oa::stepping_model>);
static_assert(reckon::logprob_model<oa::stepping_model>);
static_assert(reckon::self_rating_model<oa::stepping_model>);
static_assert(reckon::process_reward_model<oa::judge>);
static_assert(reckon::outcome_reward_model<oa::judge>);

enum class dialect { vllm, llama_server };

std::uint64_t fnv1a(const std::string& s, std::uint64_t h = 1469598103934665603ULL) {
  for (const unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// Two characters a token (a last odd character is a token too).
std::uint64_t token_count(std::size_t chars) { return (chars + 1) / 2; }

// A deterministic served model: the continuation of a prompt depends on the prompt and the seed
// only. Three steps "Step k: v=d." (d from the hash), each ended by the delimiter "\n\n", then
// "The answer is \boxed{42}." when at least two of the three d are multiples of 3 ("\boxed{7}"
// otherwise) and EOS. Tokens are two characters; the delimiter and EOS are one token each. The
// prefix cache holds every prompt + generated text served; a prompt's cached tokens are its longest
// common prefix with any of them (in whole tokens). It tallies what it served.
struct step_sim {
  dialect d = dialect::vllm;
  bool cache = true;
  std::mutex m;
  std::vector<std::string> kv;
  std::uint64_t ok = 0, generated = 0, prefilled = 0, prompt_total = 0;

  static std::vector<int> values(const std::string& prompt) {
    std::vector<int> out;
    for (std::size_t at = prompt.find("v="); at != std::string::npos; at = prompt.find("v=", at + 2))
      if (at + 2 < prompt.size()) out.push_back(prompt[at + 2] - '0');
    return out;
  }

  // A good body; `tally`: counted as served (false for a body the test then breaks).
  json respond(const json& req, bool tally = true) {
    const std::string prompt = req.at("prompt").get<std::string>();
    const auto max_tokens = req.at("max_tokens").get<std::uint64_t>();
    const std::uint64_t seed = req.at("seed").get<std::uint64_t>();
    const std::uint32_t k = req.contains("logprobs") ? req.at("logprobs").get<std::uint32_t>() : 0;
    const std::uint64_t h = fnv1a(prompt, 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL));
    const auto vs = values(prompt);
    std::string text;
    bool eos = false;
    if (vs.size() < 3) {
      text = "Step " + std::to_string(vs.size() + 1) + ": v=" + std::to_string((h >> 17) % 10) + ".";
    } else {
      const auto good = std::count_if(vs.begin(), vs.end(), [](int v) { return v % 3 == 0; });
      text = std::string("The answer is \\boxed{") + (good >= 2 ? "42" : "7") + "}.";
      eos = true;
    }
    std::vector<std::string> pieces;
    for (std::size_t i = 0; i < text.size(); i += 2) pieces.push_back(text.substr(i, 2));
    std::string finish = "stop";
    bool terminal = true; // the delimiter or EOS token was generated
    if (pieces.size() + 1 > max_tokens) {
      pieces.resize(max_tokens);
      text.clear();
      for (const auto& p : pieces) text += p;
      finish = "length";
      terminal = false;
    }
    const std::uint64_t completion = pieces.size() + (terminal ? 1 : 0);

    std::uint64_t prompt_tokens = token_count(prompt.size());
    std::uint64_t cached = 0;
    {
      std::lock_guard lock(m);
      if (cache)
        for (const auto& seen : kv) {
          const auto lcp = std::mismatch(prompt.begin(), prompt.end(), seen.begin(), seen.end()).first - prompt.begin();
          cached = std::max<std::uint64_t>(cached, static_cast<std::uint64_t>(lcp) / 2);
        }
      // A prompt seen whole is cached whole (its last odd character included).
      for (const auto& seen : kv)
        if (cache && seen.size() >= prompt.size() && seen.compare(0, prompt.size(), prompt) == 0) cached = prompt_tokens;
      cached = std::min(cached, prompt_tokens);
      if (!tally) return build(text, pieces, finish, terminal, eos, k, prompt_tokens, cached);
      kv.push_back(prompt + text + (terminal && !eos ? "\n\n" : ""));
      ++ok;
      generated += completion;
      prefilled += prompt_tokens - cached;
      prompt_total += prompt_tokens;
    }
    return build(text, pieces, finish, terminal, eos, k, prompt_tokens, cached);
  }

  json build(const std::string& text, const std::vector<std::string>& pieces, const std::string& finish, bool terminal,
             bool eos, std::uint32_t k, std::uint64_t prompt_tokens, std::uint64_t cached) const {
    const std::uint64_t completion = pieces.size() + (terminal ? 1 : 0);

    // The per-token list: the text's pieces, then the terminal token ("\n\n" or EOS's "").
    std::vector<std::string> listed = pieces;
    if (terminal) listed.push_back(eos ? "" : "\n\n");
    json choice{{"index", 0}, {"text", text}, {"finish_reason", finish}};
    if (d == dialect::vllm) {
      choice["stop_reason"] = finish == "stop" && !eos ? json("\n\n") : json(nullptr);
      if (k > 0) {
        json tokens = json::array(), lps = json::array(), tops = json::array();
        for (const auto& t : listed) {
          tokens.push_back(t);
          lps.push_back(-0.5);
          json row = json::object();
          row[t] = -0.5;
          if (k > 1) row["zz"] = -1.5;
          tops.push_back(row);
        }
        choice["logprobs"] = {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}};
      }
    } else {
      // llama-server drops the stop string's tokens from the list, and sends null for an empty list.
      if (terminal && !eos) listed.pop_back();
      if (k > 0 && !listed.empty()) {
        json content = json::array();
        for (const auto& t : listed) {
          json top = json::array({json{{"id", 1}, {"token", t}, {"logprob", -0.5}}});
          if (k > 1) top.push_back({{"id", 2}, {"token", "zz"}, {"logprob", -1.5}});
          content.push_back({{"id", 1}, {"token", t}, {"logprob", -0.5}, {"top_logprobs", top}});
        }
        choice["logprobs"] = {{"content", content}};
      } else {
        choice["logprobs"] = nullptr;
      }
    }
    json body{{"object", "text_completion"}, {"choices", json::array({choice})}};
    body["usage"] = {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion}};
    if (d == dialect::vllm) body["usage"]["prompt_tokens_details"] = {{"cached_tokens", cached}};
    else body["timings"] = {{"cache_n", cached}, {"prompt_n", prompt_tokens - cached}};
    return body;
  }

  void serve(const json& req, httplib::Response& res) {
    res.status = 200;
    res.set_content(respond(req).dump(), "application/json");
  }
};

// The judge's served model: P(yes) from the judged text ("Next step:" or "Solution:" section).
double judge_truth(const std::string& judged) {
  if (judged.find("\\boxed{42}") != std::string::npos) return 0.95;
  if (judged.find("\\boxed{") != std::string::npos) return 0.05;
  const auto at = judged.rfind("v=");
  if (at != std::string::npos && at + 2 < judged.size()) return (judged[at + 2] - '0') % 3 == 0 ? 0.9 : 0.2;
  return 0.5;
}

std::string judged_text(const std::string& prompt) {
  for (const auto& [open, close] : {std::pair<std::string, std::string>{"Next step:\n", "\n\nIs the next step correct?"},
                                    std::pair<std::string, std::string>{"Solution:\n", "\n\nIs the solution correct?"}}) {
    const auto a = prompt.find(open);
    const auto b = prompt.rfind(close);
    if (a != std::string::npos && b != std::string::npos && b >= a + open.size())
      return prompt.substr(a + open.size(), b - a - open.size());
  }
  return {};
}

// A judge server's 200 body: one token, top logprobs " Yes" / " No" / " Maybe" (0.1 of the mass).
struct judge_sim {
  std::mutex m;
  std::uint64_t ok = 0, generated = 0, prefilled = 0;
  std::vector<std::string> judged;

  json respond(const json& req) {
    const bool chat = req.contains("messages");
    const std::string prompt = chat ? req.at("messages").at(0).at("content").get<std::string>() : req.at("prompt").get<std::string>();
    const std::string what = judged_text(prompt);
    const double p = judge_truth(what);
    {
      std::lock_guard lock(m);
      ++ok;
      generated += 1;
      prefilled += token_count(prompt.size());
      judged.push_back(what);
    }
    const double ly = std::log(0.9 * p), ln = std::log(0.9 * (1.0 - p)), lm = std::log(0.1);
    const std::string chosen = p >= 0.5 ? " Yes" : " No";
    const double lc = p >= 0.5 ? ly : ln;
    json choice{{"index", 0}, {"finish_reason", "length"}};
    if (chat) {
      choice["message"] = {{"role", "assistant"}, {"content", chosen}};
      json top = json::array({json{{"token", " Maybe"}, {"logprob", lm}}, json{{"token", " No"}, {"logprob", ln}},
                              json{{"token", " Yes"}, {"logprob", ly}}});
      choice["logprobs"] = {{"content", json::array({json{{"token", chosen}, {"logprob", lc}, {"top_logprobs", top}}})}};
    } else {
      choice["text"] = chosen;
      choice["logprobs"] = {{"tokens", {chosen}},
                            {"token_logprobs", {lc}},
                            {"top_logprobs", json::array({json{{" Maybe", lm}, {" No", ln}, {" Yes", ly}}})}};
    }
    return {{"choices", json::array({choice})},
            {"usage", {{"prompt_tokens", token_count(prompt.size())}, {"completion_tokens", 1}}}};
  }
};

oa::client_params quick(const reckon::test::openai_fixture_server& s) {
  oa::client_params p;
  p.url = s.url();
  p.max_retries = 2;
  p.backoff_seconds = 0.0;
  p.max_backoff_seconds = 0.05;
  p.timeout_seconds = 5.0;
  p.connect_timeout_seconds = 2.0;
  return p;
}

const reckon::problem question{.id = 3, .prompt = "Q: what is six times seven?\n\n"};

template <class Sim>
void check_delivered(Sim& sim, const reckon::usage& delivered) {
  std::lock_guard lock(sim.m);
  CHECK(delivered.engine_calls == sim.ok);
  CHECK(delivered.generated_tokens == sim.generated);
  CHECK(delivered.prefilled_tokens == sim.prefilled);
}

} // namespace

TEST_CASE("openai::stepping_model: steps, forks and the measured prefix cache in vLLM's and llama-server's shapes",
          "[adapters][openai][stepping]") {
  const dialect d = GENERATE(dialect::vllm, dialect::llama_server);
  step_sim sim;
  sim.d = d;
  reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
  oa::stepping_model m(quick(server));

  auto root = m.begin(question);
  REQUIRE(root);
  const oa::stepping_model::sequence s = *root;
  reckon::step_params sp;
  sp.max_step_tokens = 64;
  sp.stats = {.logprobs = true, .entropy = false, .top_k = 2};
  const std::uint64_t seed = 5;
  auto first = m.extend(std::span(&s, 1), sp, std::span(&seed, 1));
  REQUIRE(first);
  const reckon::step& st = first->steps.at(0);
  CHECK(st.finish == reckon::finish_reason::step);
  CHECK_FALSE(st.done);
  CHECK(st.text.rfind("Step 1: v=", 0) == 0);
  CHECK(st.text.size() == 14); // "Step 1: v=d." and the delimiter the server stripped
  CHECK(st.text.substr(12) == "\n\n");
  // vLLM lists the delimiter's token; llama-server drops it (it is in usage, not in the step).
  CHECK(st.tokens == (d == dialect::vllm ? 7U : 6U));
  CHECK(st.stats.logprob.size() == st.tokens);
  CHECK(st.stats.top_k == 2);
  CHECK(first->usage.generated_tokens == 7);
  CHECK(first->usage.prefilled_tokens == token_count(question.prompt.size())); // nothing cached yet
  {
    std::lock_guard lock(server.m);
    const json& req = server.requests.at(0);
    CHECK(req.at("prompt") == question.prompt);
    CHECK(req.at("n") == 1);
    CHECK(req.at("stop") == json::array({"\n\n"}));
    CHECK(req.at("max_tokens") == 64);
    CHECK(req.at("seed") == oa::detail::wire_seed(seed));
    CHECK(server.paths.at(0) == "/v1/completions");
  }

  // A fork shares the text; both extended with one seed continue alike, and the server had both
  // prefixes cached: the ledger says so because the server said so.
  auto child = m.fork(s);
  REQUIRE(child);
  const oa::stepping_model::sequence pair[2] = {s, *child};
  const std::uint64_t seeds[2] = {9, 9};
  auto both = m.extend(pair, sp, seeds);
  REQUIRE(both);
  CHECK(both->steps[0].text == both->steps[1].text);
  CHECK(both->steps[0].text.rfind("Step 2: v=", 0) == 0);
  CHECK(both->steps[0].source != both->steps[1].source);
  CHECK(both->usage.prefilled_tokens == 0);
  CHECK(both->usage.engine_calls == 2);
  CHECK(*m.text(s) == question.prompt + st.text + both->steps[0].text);
  {
    std::lock_guard lock(server.m);
    CHECK(server.requests.at(1).at("prompt") == question.prompt + st.text);
  }
  m.release(*child);
  m.release(s);
  CHECK(m.live_sequences() == 0);

  const auto report = reckon::testing::check_stepping(m, question);
  CHECK(report.to_string() == "");
  CHECK(m.live_sequences() == 0);
  check_delivered(sim, m.totals().delivered);
}

TEST_CASE("openai::stepping_model: EOS ends a sequence; max_total_tokens caps the request and finishes it",
          "[adapters][openai][stepping]") {
  const dialect d = GENERATE(dialect::vllm, dialect::llama_server);
  step_sim sim;
  sim.d = d;
  reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
  oa::stepping_model m(quick(server));
  auto s = *m.begin(question);
  reckon::step_params sp;
  const std::uint64_t seed = 1;
  std::vector<reckon::step> steps;
  for (int i = 0; i < 4; ++i) {
    auto r = m.extend(std::span(&s, 1), sp, std::span(&seed, 1));
    REQUIRE(r);
    steps.push_back(r->steps[0]);
  }
  for (int i = 0; i < 3; ++i) CHECK(steps[i].finish == reckon::finish_reason::step);
  CHECK(steps[3].finish == reckon::finish_reason::eos);
  CHECK(steps[3].done);
  CHECK(steps[3].text.find("\\boxed{") != std::string::npos);
  CHECK(m.extend(std::span(&s, 1), sp, std::span(&seed, 1)).error().code == errc::invalid_argument); // done
  m.release(s);

  // 7 tokens a step: a total cap of 10 leaves 3 for the second step, which ends it.
  auto t = *m.begin(question);
  sp.max_total_tokens = 10;
  auto a = m.extend(std::span(&t, 1), sp, std::span(&seed, 1));
  REQUIRE(a);
  CHECK_FALSE(a->steps[0].done);
  auto b = m.extend(std::span(&t, 1), sp, std::span(&seed, 1));
  REQUIRE(b);
  CHECK(b->steps[0].finish == reckon::finish_reason::length);
  CHECK(b->steps[0].done);
  CHECK(b->steps[0].tokens == 3);
  {
    std::lock_guard lock(server.m);
    CHECK(server.requests.back().at("max_tokens") == 3);
  }
  m.release(t);
  check_delivered(sim, m.totals().delivered);
}

TEST_CASE("regression #19.4: a sequence already past a lowered max_total_tokens ends with an empty step and no request",
          "[adapters][openai][stepping]") {
  step_sim sim;
  reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
  oa::stepping_model m(quick(server));
  auto sent = [&] {
    std::lock_guard lock(server.m);
    return server.requests.size();
  };
  reckon::step_params sp;
  const std::uint64_t seeds[3] = {1, 2, 3};
  // 7 tokens a step: `past` holds 14 generated tokens, `at` and `other` 7, `fresh` none.
  const std::uint64_t past = *m.begin(question), at = *m.begin(question), other = *m.begin(question),
                      fresh = *m.begin(question);
  const std::uint64_t first[3] = {past, at, other};
  REQUIRE(m.extend(std::span(first), sp, std::span(seeds)));
  REQUIRE(m.extend(std::span(&past, 1), sp, std::span(seeds, 1)));
  const std::string past_text = *m.text(past), at_text = *m.text(at);
  const std::size_t before = sent();

  sp.max_total_tokens = 7;
  const std::uint64_t capped[2] = {past, at};
  auto r = m.extend(std::span(capped), sp, std::span(seeds, 2));
  REQUIRE(r);
  CHECK(sent() == before); // before the fix: two requests with "max_tokens": 0
  for (const auto& st : r->steps) {
    CHECK(st.text.empty());
    CHECK(st.tokens == 0);
    CHECK(st.finish == reckon::finish_reason::length);
    CHECK(st.done);
  }
  CHECK(r->usage.engine_calls == 0);
  CHECK(r->usage.generated_tokens == 0);
  CHECK(*m.text(past) == past_text);
  CHECK(*m.text(at) == at_text);
  CHECK(m.extend(std::span(&past, 1), sp, std::span(seeds, 1)).error().code == errc::invalid_argument); // done

  // In a batch with a sequence that may still generate, only that one is sent.
  const std::uint64_t mixed[2] = {other, fresh};
  auto mr = m.extend(std::span(mixed), sp, std::span(seeds, 2));
  REQUIRE(mr);
  CHECK(mr->steps[0].done);
  CHECK(mr->steps[0].tokens == 0);
  CHECK(mr->steps[1].tokens == 7);
  CHECK(mr->steps[1].done);
  CHECK(mr->usage.engine_calls == 1);
  {
    std::lock_guard lock(server.m);
    REQUIRE(server.requests.size() == before + 1);
    CHECK(server.requests.back().at("max_tokens") == 7);
    for (const auto& req : server.requests) CHECK(req.at("max_tokens").get<std::uint64_t>() > 0);
  }
  for (const auto s : {past, at, other, fresh}) m.release(s);
  CHECK(m.live_sequences() == 0);
  check_delivered(sim, m.totals().delivered);
}

// llama-server's answer to a prompt of at least its slot's context (--ctx-size / --parallel), as
// recorded from llama-server (-np 4, the test model's 2048-token context: 512 a slot).
const char* const recorded_context_400 =
    R"({"error":{"code":400,"message":"request (619 tokens) exceeds the available context size (512 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":619,"n_ctx":512}})";

TEST_CASE("regression #17.1: a step refused for llama-server's full context ends its sequence (finish length, done), not the run",
          "[adapters][openai][stepping]") {
  step_sim sim;
  sim.d = dialect::llama_server;
  std::atomic<std::uint64_t> n_ctx{22}; // the prompt (15 tokens) and one step (7) fill it
  reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) {
    if (token_count(req.at("prompt").get<std::string>().size()) >= n_ctx.load()) {
      res.status = 400;
      res.set_content(recorded_context_400, "application/json; charset=utf-8");
      return;
    }
    sim.serve(req, res);
  });
  oa::stepping_model m(quick(server));
  reckon::step_params sp;
  const std::uint64_t seeds[2] = {1, 2};
  const std::uint64_t a = *m.begin(question), b = *m.begin(question);
  const std::uint64_t both[2] = {a, b};
  REQUIRE(m.extend(std::span(both), sp, std::span(seeds)));
  const std::string a_text = *m.text(a);
  const auto calls = server.calls.load();

  auto r = m.extend(std::span(both), sp, std::span(seeds)); // before the fix: engine_failure (HTTP 400)
  REQUIRE(r);
  for (const auto& st : r->steps) {
    CHECK(st.text.empty());
    CHECK(st.tokens == 0);
    CHECK(st.finish == reckon::finish_reason::length);
    CHECK(st.done);
  }
  CHECK(r->usage.engine_calls == 0);
  CHECK(r->usage.generated_tokens == 0);
  CHECK(server.calls.load() == calls + 2); // one request each: a refusal that follows the prompt is not retried
  CHECK(m.totals().context_full == 2);
  CHECK(*m.text(a) == a_text);
  CHECK(m.extend(std::span(&a, 1), sp, std::span(seeds, 1)).error().code == errc::invalid_argument); // done
  check_delivered(sim, m.totals().delivered);

  // A prompt that alone does not fit leaves nothing to search: an error naming the flags to change.
  n_ctx = 10;
  const std::uint64_t fresh = *m.begin(question);
  auto e = m.extend(std::span(&fresh, 1), sp, std::span(seeds, 1));
  REQUIRE(!e);
  CHECK(e.error().code == errc::engine_failure);
  CHECK(e.error().message.rfind("openai::stepping_model: openai: HTTP 400", 0) == 0);
  CHECK(e.error().message.find("exceed_context_size_error") != std::string::npos);
  CHECK(e.error().message.find("raise -c or lower -np") != std::string::npos);
  CHECK(m.totals().context_full == 2);

  // A particle filter whose paths outgrow the context (two steps fit, the answer needs three) ends them there.
  n_ctx = 29;
  const reckon::particle_filter pf(reckon::particle_filter_params{.n = 4, .max_steps = 8});
  judge_sim jsim;
  reckon::test::openai_fixture_server judging([&](const json& req, int, httplib::Response& res) {
    res.status = 200;
    res.set_content(jsim.respond(req).dump(), "application/json");
  });
  oa::judge prm(quick(judging));
  m.release(a);
  m.release(b);
  m.release(fresh);
  auto run = pf.run(m, prm, question, reckon::budget{}, reckon::random_stream(11, question.id));
  REQUIRE(run);
  CHECK(run->answer != std::optional<std::string>("42")); // no path reached its answer step
  CHECK(run->answer != std::optional<std::string>("7"));
  CHECK(m.totals().context_full >= 6); // each of the 4 live particles, after the 2 earlier refusals
  CHECK(m.live_sequences() == 0);
  check_delivered(sim, m.totals().delivered);
}

TEST_CASE("openai::stepping_model: a particle filter and a beam search run end to end against the server with the judge PRM",
          "[adapters][openai][stepping][judge]") {
  const dialect d = GENERATE(dialect::vllm, dialect::llama_server);
  step_sim sim;
  sim.d = d;
  judge_sim jsim;
  reckon::test::openai_fixture_server policy([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
  reckon::test::openai_fixture_server judging([&](const json& req, int, httplib::Response& res) {
    res.status = 200;
    res.set_content(jsim.respond(req).dump(), "application/json");
  });
  oa::stepping_model m(quick(policy));
  oa::judge prm(quick(judging));

  // Unguided, a path ends at 42 when two of its three digits are multiples of 3 (about 35%); the
  // judge scores such digits 0.9 against 0.2, so both searches find 42 here (seed 11).
  const reckon::random_stream stream(11, question.id);
  reckon::particle_filter_params pp;
  pp.n = 4;
  pp.max_steps = 8;
  const reckon::particle_filter pf(pp);
  auto r = pf.run(m, prm, question, reckon::budget{}, stream);
  REQUIRE(r);
  CHECK(r->answer == std::optional<std::string>("42"));
  CHECK(m.live_sequences() == 0);
  check_delivered(sim, m.totals().delivered);
  CHECK(r->cost.generated_tokens == m.totals().delivered.generated_tokens);
  CHECK(r->cost.prefilled_tokens == m.totals().delivered.prefilled_tokens);
  CHECK(r->cost.engine_calls == m.totals().delivered.engine_calls);
  {
    std::lock_guard lock(sim.m);
    CHECK(m.totals().prompt_tokens == sim.prompt_total);
    CHECK(sim.prefilled * 2 < sim.prompt_total); // the prefix cache saved more than half, as measured
  }
  check_delivered(jsim, prm.totals().delivered);
  CHECK(prm.judged().cached > 0); // earlier steps were not judged again

  const auto before = m.totals().delivered;
  const reckon::beam_search beams(reckon::beam_search_params{.n = 4, .width = 2, .max_steps = 8});
  auto b = beams.run(m, prm, question, reckon::budget{}, stream);
  REQUIRE(b);
  CHECK(b->answer == std::optional<std::string>("42"));
  CHECK(m.live_sequences() == 0);
  CHECK(b->cost.generated_tokens == m.totals().delivered.generated_tokens - before.generated_tokens);
  CHECK(b->cost.prefilled_tokens == m.totals().delivered.prefilled_tokens - before.prefilled_tokens);
  check_delivered(sim, m.totals().delivered);
}

TEST_CASE("openai::stepping_model: a particle filter's prefill with the server's prefix cache on and off",
          "[adapters][openai][stepping][judge]") {
  // The same run (same seeds, same steps) against a server with and without its prefix cache: the
  // ledger's prefilled tokens are what each reported.
  auto prefilled = [](bool cache, std::uint64_t& prompt_total) {
    step_sim sim;
    sim.d = dialect::llama_server;
    sim.cache = cache;
    judge_sim jsim;
    reckon::test::openai_fixture_server policy([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
    reckon::test::openai_fixture_server judging([&](const json& req, int, httplib::Response& res) {
      res.status = 200;
      res.set_content(jsim.respond(req).dump(), "application/json");
    });
    oa::stepping_model m(quick(policy));
    oa::judge prm(quick(judging));
    const reckon::particle_filter pf(reckon::particle_filter_params{.n = 8, .max_steps = 8});
    auto r = pf.run(m, prm, question, reckon::budget{}, reckon::random_stream(4, question.id));
    REQUIRE(r);
    std::lock_guard lock(sim.m);
    prompt_total = sim.prompt_total;
    CHECK(r->cost.prefilled_tokens == sim.prefilled);
    return r->cost.prefilled_tokens;
  };
  std::uint64_t total_on = 0, total_off = 0;
  const auto on = prefilled(true, total_on);
  const auto off = prefilled(false, total_off);
  CHECK(total_on == total_off); // the same requests
  CHECK(off == total_off);       // no cache: every prompt token prefilled
  CHECK(on * 4 < off);           // measured: 15 against 816 (the simulated cache keeps everything); a 4x margin
}

TEST_CASE("openai::stepping_model: a search under a token budget stays within it; a server that dies mid-run releases every sequence",
          "[adapters][openai][stepping][judge]") {
  step_sim sim;
  sim.d = dialect::llama_server; // its usage counts the delimiter's tokens that its per-token list drops
  judge_sim jsim;
  std::atomic<int> fail_after{1000000};
  reckon::test::openai_fixture_server policy([&](const json& req, int call, httplib::Response& res) {
    if (call >= fail_after.load()) {
      res.status = 400;
      res.set_content("the server went away", "text/plain");
      return;
    }
    sim.serve(req, res);
  });
  reckon::test::openai_fixture_server judging([&](const json& req, int, httplib::Response& res) {
    res.status = 200;
    res.set_content(jsim.respond(req).dump(), "application/json");
  });
  oa::stepping_model m(quick(policy));
  oa::judge prm(quick(judging));
  const reckon::particle_filter pf(reckon::particle_filter_params{.n = 4, .max_steps = 8});
  const reckon::random_stream stream(2, question.id);

  const std::uint64_t limit = GENERATE(as<std::uint64_t>{}, 20, 45, 70);
  reckon::budget b;
  b.max_generated_tokens = limit;
  auto r = pf.run(m, prm, question, b, stream);
  REQUIRE(r);
  CHECK(r->cost.generated_tokens <= limit);
  CHECK(r->cost.generated_tokens == m.totals().delivered.generated_tokens);
  CHECK(m.live_sequences() == 0);

  fail_after = policy.calls.load() + 6; // the second round of four particles fails
  auto dead = pf.run(m, prm, question, reckon::budget{}, stream);
  REQUIRE_FALSE(dead);
  CHECK(dead.error().code == errc::engine_failure);
  CHECK(dead.error().message.find("went away") != std::string::npos);
  CHECK(dead.error().message.find("max_n_per_request") == std::string::npos); // n = 1: no hint about n
  CHECK(m.live_sequences() == 0);
  check_delivered(sim, m.totals().delivered);
}

TEST_CASE("openai::stepping_model: errors lose nothing, count nothing twice and change no sequence",
          "[adapters][openai][stepping]") {
  step_sim sim;
  std::atomic<int> fault{0}; // which fault the next request meets
  std::atomic<int> faults_left{0};
  reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) {
    if (faults_left.load() > 0 && req.at("prompt").get<std::string>().find("#fail") != std::string::npos) {
      --faults_left;
      switch (fault.load()) {
      case 0:
        res.status = 429;
        res.set_header("Retry-After", "0");
        res.set_content("slow down", "text/plain");
        return;
      case 1:
        res.status = 503;
        res.set_content("overloaded " + std::to_string(faults_left.load()), "text/plain");
        return;
      case 2:
        res.status = 500;
        res.set_content("The model produced output that does not match the expected format", "text/plain");
        return;
      case 3:
        std::this_thread::sleep_for(std::chrono::milliseconds(600));
        res.status = 200; // too late: the client has given up, so the sim does not count it
        res.set_content(sim.respond(req, false).dump(), "application/json");
        return;
      case 4:
        res.set_content_provider(1000, "application/json", [](std::size_t offset, std::size_t, httplib::DataSink& sink) {
          if (offset == 0) {
            sink.write("{\"choices\"", 10);
            return true;
          }
          return false;
        });
        return;
      case 5:
        res.status = 200;
        res.set_content(R"({"choices": [{"text": 3}]})", "application/json");
        return;
      case 6: { // two choices for n = 1
        json body = sim.respond(req, false);
        body["choices"].push_back(body["choices"][0]);
        body["choices"][1]["index"] = 1;
        res.status = 200;
        res.set_content(body.dump(), "application/json");
        return;
      }
      case 7: { // more tokens than max_tokens
        json body = sim.respond(req, false);
        body["usage"]["completion_tokens"] = 1000;
        res.status = 200;
        res.set_content(body.dump(), "application/json");
        return;
      }
      default: break;
      }
    }
    sim.serve(req, res);
  });
  auto p = quick(server);
  p.timeout_seconds = 0.3;
  oa::stepping_model m(p);
  const reckon::problem bad{.id = 4, .prompt = "Q: #fail?\n\n"};
  auto good = *m.begin(question);
  auto flaky = *m.begin(bad);
  const oa::stepping_model::sequence seqs[2] = {good, flaky};
  const std::uint64_t seeds[2] = {1, 2};
  const reckon::step_params sp;

  SECTION("429, transient 5xx and a dropped connection are retried") {
    for (const int f : {0, 1, 4}) {
      fault = f;
      faults_left = 1;
      auto r = m.extend(seqs, sp, seeds);
      REQUIRE(r);
      CHECK(r->steps.size() == 2);
      CHECK(r->usage.engine_calls == 2);
    }
    CHECK(m.totals().retries == 3);
  }
  SECTION("a deterministic 5xx is re-seeded with a derived seed") {
    fault = 2;
    faults_left = 2; // the same body twice
    auto r = m.extend(seqs, sp, seeds);
    REQUIRE(r);
    CHECK(m.totals().reseeded == 1);
    std::lock_guard lock(server.m);
    CHECK(server.requests.back().at("seed") == oa::detail::wire_seed(reckon::request_seed(2, 1)));
  }
  SECTION("a failure for good leaves every sequence as it was; the next extend works") {
    const int f = GENERATE(1, 2, 3, 5, 6, 7);
    fault = f;
    faults_left = f == 2 ? 100 : 3 + 1; // outlives the retries (and the derived seeds)
    const std::string good_before = *m.text(good), flaky_before = *m.text(flaky);
    auto r = m.extend(seqs, sp, seeds);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == (f == 3 ? errc::timeout : errc::engine_failure));
    CHECK(*m.text(good) == good_before);
    CHECK(*m.text(flaky) == flaky_before);
    CHECK(m.totals().failed_calls == 1);
    faults_left = 0;
    if (f == 3) std::this_thread::sleep_for(std::chrono::milliseconds(400)); // let the slow handler finish
    auto again = m.extend(seqs, sp, seeds);
    REQUIRE(again);
    CHECK(again->steps[0].text.rfind("Step 1:", 0) == 0);
    CHECK(again->steps[1].text.rfind("Step 1:", 0) == 0);
  }
  m.release(good);
  m.release(flaky);
  CHECK(m.live_sequences() == 0);
  check_delivered(sim, m.totals().delivered); // the good sequence's work in a failed call included
}

TEST_CASE("openai::stepping_model: a delimiter split by a step's token cap is found across the boundary",
          "[adapters][openai][stepping]") {
  // The first step is cut by its cap after "...a\n"; the server, which searches only what it
  // generates, continues "\nStep 2" without stopping. The step ends at the delimiter.
  reckon::test::openai_fixture_server server([](const json& req, int call, httplib::Response& res) {
    const bool first = call == 0;
    json choice{{"index", 0}, {"text", first ? "a\n" : "\nStep 2"}, {"finish_reason", first ? "length" : "stop"}, {"stop_reason", nullptr}};
    res.status = 200;
    res.set_content(json{{"choices", json::array({choice})},
                         {"usage", {{"prompt_tokens", 4}, {"completion_tokens", 2}}}}
                        .dump(),
                    "application/json");
    (void)req;
  });
  oa::stepping_model m(quick(server));
  auto s = *m.begin(question);
  reckon::step_params sp;
  sp.max_step_tokens = 2;
  const std::uint64_t seed = 1;
  auto a = m.extend(std::span(&s, 1), sp, std::span(&seed, 1));
  REQUIRE(a);
  CHECK(a->steps[0].finish == reckon::finish_reason::length);
  CHECK_FALSE(a->steps[0].done);
  auto b = m.extend(std::span(&s, 1), sp, std::span(&seed, 1));
  REQUIRE(b);
  CHECK(b->steps[0].text == "\n");
  CHECK(b->steps[0].finish == reckon::finish_reason::step);
  CHECK_FALSE(b->steps[0].done);
  CHECK(b->usage.generated_tokens == 2);
  m.release(s);
}

TEST_CASE("openai::stepping_model: llama-server's null logprobs for a stop in the first token is a step, not EOS",
          "[adapters][openai][stepping]") {
  reckon::test::openai_fixture_server server([](const json&, int, httplib::Response& res) {
    json choice{{"index", 0}, {"text", ""}, {"finish_reason", "stop"}, {"logprobs", nullptr}};
    res.status = 200;
    res.set_content(json{{"choices", json::array({choice})},
                         {"usage", {{"prompt_tokens", 4}, {"completion_tokens", 1}}},
                         {"timings", {{"prompt_n", 1}}}}
                        .dump(),
                    "application/json");
  });
  oa::stepping_model m(quick(server));
  auto s = *m.begin(question);
  reckon::step_params sp;
  sp.stats.logprobs = true;
  const std::uint64_t seed = 1;
  auto r = m.extend(std::span(&s, 1), sp, std::span(&seed, 1));
  REQUIRE(r);
  CHECK(r->steps[0].finish == reckon::finish_reason::step);
  CHECK(r->steps[0].text == "\n\n");
  CHECK(r->steps[0].tokens == r->steps[0].stats.logprob.size()); // statistics and tokens agree
  CHECK(r->usage.generated_tokens == 1);
  CHECK(r->usage.prefilled_tokens == 1); // timings.prompt_n, not prompt_tokens
  m.release(s);
}

TEST_CASE("openai::stepping_model: misuse is refused before any request", "[adapters][openai][stepping]") {
  step_sim sim;
  reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
  oa::stepping_model m(quick(server));
  auto s = *m.begin(question);
  const std::uint64_t seeds[2] = {1, 2};
  reckon::step_params sp;
  CHECK(m.extend(std::span(&s, 1), sp, seeds).error().code == errc::invalid_argument);
  const oa::stepping_model::sequence twice[2] = {s, s};
  CHECK(m.extend(twice, sp, seeds).error().code == errc::invalid_argument);
  const oa::stepping_model::sequence unknown = 999;
  CHECK(m.extend(std::span(&unknown, 1), sp, std::span(seeds, 1)).error().code == errc::invalid_argument);
  CHECK(m.fork(unknown).error().code == errc::invalid_argument);
  sp.stats.top_k = 21;
  CHECK(m.extend(std::span(&s, 1), sp, std::span(seeds, 1)).error().code == errc::invalid_argument);
  sp = {};
  sp.delimiter.clear();
  CHECK(m.extend(std::span(&s, 1), sp, std::span(seeds, 1)).error().code == errc::invalid_argument);
  m.release(s);
  m.release(s); // a second release is harmless
  CHECK(server.calls.load() == 0);
}

TEST_CASE("openai::judge: P(yes) / (P(yes) + P(no)) per step, one request per step not yet judged",
          "[adapters][openai][judge]") {
  const auto endpoint = GENERATE(oa::api::completions, oa::api::chat_completions);
  judge_sim jsim;
  reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) {
    res.status = 200;
    res.set_content(jsim.respond(req).dump(), "application/json");
  });
  auto p = quick(server);
  p.endpoint = endpoint;
  oa::judge prm(p);
  const std::vector<std::string> a{"Step 1: v=3.\n\n", "Step 2: v=4.\n\n"};
  const std::vector<std::string> b{"Step 1: v=3.\n\n", "Step 2: v=4.\n\n", "The answer is \\boxed{42}."};
  const reckon::solution_view first[1] = {{.steps = a}};
  auto s1 = prm.score_steps(question, first);
  REQUIRE(s1);
  REQUIRE(s1->size() == 1);
  REQUIRE(s1->at(0).size() == 2);
  CHECK(s1->at(0)[0] == Approx(0.9));
  CHECK(s1->at(0)[1] == Approx(0.2));
  CHECK(server.calls.load() == 2);
  {
    // The two step requests go out concurrently: their order on the server is not fixed.
    std::lock_guard lock(server.m);
    REQUIRE(server.requests.size() == 2);
    int judging_step_one = 0;
    for (const json& req : server.requests) {
      CHECK(req.at("max_tokens") == 1);
      CHECK(req.at("temperature") == 0.0);
      if (endpoint == oa::api::completions) {
        CHECK(req.at("logprobs") == 20);
        const std::string prompt = req.at("prompt").get<std::string>();
        CHECK(prompt.find(question.prompt) != std::string::npos);
        judging_step_one += prompt.find("Next step:\nStep 1: v=3.") != std::string::npos;
      } else {
        CHECK(req.at("top_logprobs") == 20);
      }
    }
    if (endpoint == oa::api::completions) CHECK(judging_step_one == 1);
  }
  // The same prefix grown by a step, twice in one call: one new request.
  const reckon::solution_view grown[2] = {{.steps = b}, {.steps = b}};
  auto s2 = prm.score_steps(question, grown);
  REQUIRE(s2);
  CHECK(server.calls.load() == 3);
  for (const auto& row : *s2) {
    REQUIRE(row.size() == 3);
    CHECK(row[0] == Approx(0.9));
    CHECK(row[2] == Approx(0.95));
  }
  CHECK(prm.judged().judged == 3);
  CHECK(prm.judged().cached == 4);
  CHECK(reckon::testing::check_process_reward(prm, question, grown).ok());

  auto o = prm.score_outcomes(question, grown);
  REQUIRE(o);
  CHECK(o->at(0) == Approx(0.95));
  CHECK(server.calls.load() == 4);
  {
    std::lock_guard lock(jsim.m);
    CHECK(jsim.judged.back() == b[0] + b[1] + b[2]);
  }
  check_delivered(jsim, prm.totals().delivered);
}

TEST_CASE("openai::judge: neither yes nor no in the top-k gives the stated score; bad answers are errors",
          "[adapters][openai][judge]") {
  const int mode = GENERATE(0, 1, 2, 3, 4);
  reckon::test::openai_fixture_server server([&](const json&, int, httplib::Response& res) {
    json lp{{"tokens", {" Maybe"}}, {"token_logprobs", {-0.1}}, {"top_logprobs", json::array({json{{" Maybe", -0.1}}})}};
    json choice{{"index", 0}, {"text", " Maybe"}, {"finish_reason", "length"}, {"logprobs", lp}};
    if (mode == 1) choice.erase("logprobs");
    json body{{"choices", json::array({choice})}};
    if (mode == 2) body["choices"].push_back(choice);
    if (mode == 3) {
      res.status = 500;
      res.set_content("judge down", "text/plain");
      return;
    }
    if (mode == 4) body["choices"][0]["logprobs"]["top_logprobs"][0][" Yes"] = 0.5; // p > 1
    res.status = 200;
    res.set_content(body.dump(), "application/json");
  });
  oa::judge_params jp;
  jp.unjudged_score = 0.25;
  oa::judge prm(quick(server), jp);
  const std::vector<std::string> steps{"Step 1: v=3.\n\n"};
  const reckon::solution_view c[1] = {{.steps = steps}};
  auto r = prm.score_steps(question, c);
  if (mode == 0) {
    REQUIRE(r);
    CHECK(r->at(0).at(0) == Approx(0.25));
    CHECK(prm.judged().unjudged == 1);
  } else {
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::engine_failure);
    CHECK(prm.totals().failed_calls == 1);
    CHECK(prm.judged().judged == 0);
  }
}

TEST_CASE("regression #17.1: a judge prompt past llama-server's context is one request and an error naming the judge and -c / -np",
          "[adapters][openai][judge]") {
  reckon::test::openai_fixture_server server([&](const json&, int, httplib::Response& res) {
    res.status = 400;
    res.set_content(recorded_context_400, "application/json; charset=utf-8");
  });
  oa::judge prm(quick(server));
  const std::vector<std::string> steps{"Step 1: v=3.\n\n"};
  const reckon::solution_view c[1] = {{.steps = steps}};
  auto r = prm.score_steps(question, c);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::engine_failure);
  // Before the fix: "openai: HTTP 400 ..." with no word of which server or what to change.
  CHECK(r.error().message.rfind("openai::judge: openai: HTTP 400", 0) == 0);
  CHECK(r.error().message.find("raise -c or lower -np") != std::string::npos);
  CHECK(server.calls.load() == 1);
}

TEST_CASE("openai::judge: parameters are checked at construction", "[adapters][openai][judge]") {
  auto bad = [](auto edit) {
    oa::judge_params jp;
    edit(jp);
    try {
      oa::judge j(oa::client_params{}, jp);
    } catch (const reckon::exception& e) {
      return e.code() == errc::invalid_argument;
    }
    return false;
  };
  CHECK(bad([](oa::judge_params& jp) { jp.top_k = 0; }));
  CHECK(bad([](oa::judge_params& jp) { jp.top_k = 21; }));
  CHECK(bad([](oa::judge_params& jp) { jp.unjudged_score = 1.5; }));
  CHECK(bad([](oa::judge_params& jp) { jp.yes_tokens.clear(); }));
  CHECK(bad([](oa::judge_params& jp) { jp.step_template = "no field"; }));
  CHECK(bad([](oa::judge_params& jp) { jp.outcome_template = "{step}"; }));
  CHECK_FALSE(bad([](oa::judge_params&) {}));
}

namespace {

// The server of a SCALE run: outline and rating prompts (told apart by their instructions) answered
// by the test's scripts, given the prompt and how many times that same prompt came before (so the
// answers do not depend on the order of parallel requests); every other prompt is a step of step_sim.
struct scale_sim {
  step_sim steps;
  std::function<std::string(const std::string& prompt, int attempt)> rate = [](const std::string&, int) { return "0.3"; };
  std::function<std::string(int attempt)> outline = [](int) {
    return std::string(R"({"step1": "find a", "step2": "find b", "step3": "answer"})");
  };
  std::mutex m;
  std::map<std::string, int> seen;
  std::vector<std::string> rating_prompts, step_prompts;
  std::uint64_t rated = 0, generated = 0, prefilled = 0;

  static bool is_rating(const std::string& prompt) { return prompt.rfind(oa::scale_score_instruction, 0) == 0; }
  static bool is_outline(const std::string& prompt) { return prompt.rfind(oa::scale_outline_instruction, 0) == 0; }

  void serve(const json& req, httplib::Response& res) {
    const std::string prompt = req.at("prompt").get<std::string>();
    if (!is_rating(prompt) && !is_outline(prompt)) {
      {
        std::lock_guard lock(m);
        step_prompts.push_back(prompt);
      }
      return steps.serve(req, res);
    }
    int attempt = 0;
    {
      std::lock_guard lock(m);
      attempt = seen[prompt]++;
      if (is_rating(prompt)) rating_prompts.push_back(prompt);
    }
    const std::string text = is_rating(prompt) ? rate(prompt, attempt) : outline(attempt);
    const std::uint64_t completion = token_count(text.size()) + 1, in = token_count(prompt.size());
    {
      std::lock_guard lock(m);
      ++rated;
      generated += completion;
      prefilled += in;
    }
    json body{{"choices", json::array({json{{"index", 0}, {"text", text}, {"finish_reason", "stop"}}})},
              {"usage", {{"prompt_tokens", in}, {"completion_tokens", completion}, {"prompt_tokens_details", {{"cached_tokens", 0}}}}}};
    res.status = 200;
    res.set_content(body.dump(), "application/json");
  }

  void check_delivered(const reckon::usage& delivered) {
    std::lock_guard a(m), b(steps.m);
    CHECK(delivered.engine_calls == steps.ok + rated);
    CHECK(delivered.generated_tokens == steps.generated + generated);
    CHECK(delivered.prefilled_tokens == steps.prefilled + prefilled);
  }
};

// The {next} field of a rating prompt.
std::string next_of(const std::string& prompt) {
  const std::string open = "next step to be solved:";
  const auto a = prompt.rfind(open), b = prompt.rfind("\nscore:");
  return a == std::string::npos || b == std::string::npos ? std::string() : prompt.substr(a + open.size(), b - a - open.size());
}

} // namespace

TEST_CASE("openai::stepping_model: a deliberate step sends the mode's prompt, cap and sampling; the kept text has none of it",
          "[adapters][openai][stepping][scale]") {
  step_sim sim;
  reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
  auto last = [&] {
    std::lock_guard lock(server.m);
    return server.requests.back();
  };
  oa::effort_params e;
  e.standard_step_tokens = 5;
  e.deliberate_temperature = 0.6f;
  e.deliberate_top_p = 0.95f;
  e.standard_temperature = 0.7f;
  e.standard_top_p = 0.8f;
  oa::stepping_model m(quick(server), e);
  auto s = *m.begin(question);
  reckon::step_params sp;
  sp.max_step_tokens = 64;
  sp.temperature = 1.0f;
  sp.top_p = 1.0f;
  const std::uint64_t seed = 4;

  // System 1: the text alone, the mode's lower cap (7 tokens a step: cut at 5), its sampling.
  auto a = m.extend(std::span(&s, 1), sp, std::span(&seed, 1));
  REQUIRE(a);
  json req = last();
  CHECK(req.at("prompt") == question.prompt);
  CHECK(req.at("max_tokens") == 5);
  CHECK(req.at("temperature").get<float>() == 0.7f);
  CHECK(req.at("top_p").get<float>() == 0.8f);
  CHECK(a->steps[0].finish == reckon::finish_reason::length);
  const std::string after_a = question.prompt + a->steps[0].text;

  // System 2: the text and the deliberate prompt, the strategy's whole cap, the thinking sampling.
  sp.effort = reckon::effort_level::deliberate;
  auto b = m.extend(std::span(&s, 1), sp, std::span(&seed, 1));
  REQUIRE(b);
  req = last();
  CHECK(req.at("prompt") == after_a + e.deliberate_prompt);
  CHECK(req.at("max_tokens") == 64);
  CHECK(req.at("temperature").get<float>() == 0.6f);
  CHECK(req.at("top_p").get<float>() == 0.95f);
  CHECK(req.at("stop") == json::array({"\n\n"}));
  CHECK(b->steps[0].text.find(e.deliberate_prompt) == std::string::npos);
  CHECK(*m.text(s) == after_a + b->steps[0].text);

  // The next step, and a rating, see the generated text only.
  sp.effort = reckon::effort_level::standard;
  REQUIRE(m.extend(std::span(&s, 1), sp, std::span(&seed, 1)));
  CHECK(last().at("prompt") == after_a + b->steps[0].text);
  CHECK(m.text(s)->find(e.deliberate_prompt) == std::string::npos);
  m.release(s);
  check_delivered(sim, m.totals().delivered);

  // A mode's cap only lowers the strategy's: a step never exceeds max_step_tokens.
  oa::effort_params wide;
  wide.deliberate_step_tokens = 100;
  oa::stepping_model w(quick(server), wide);
  auto t = *w.begin(question);
  sp.effort = reckon::effort_level::deliberate;
  REQUIRE(w.extend(std::span(&t, 1), sp, std::span(&seed, 1)));
  CHECK(last().at("max_tokens") == 64);
  CHECK(last().at("temperature").get<float>() == 1.0f); // unset: the step's own
  wide.deliberate_step_tokens = 3;
  oa::stepping_model narrow(quick(server), wide);
  auto u = *narrow.begin(question);
  REQUIRE(narrow.extend(std::span(&u, 1), sp, std::span(&seed, 1)));
  CHECK(last().at("max_tokens") == 3);
  CHECK(last().at("prompt") == question.prompt + wide.deliberate_prompt);
  // By default a standard step's request is what it was before effort existed.
  sp.effort = reckon::effort_level::standard;
  const std::uint64_t v = *w.begin(question);
  REQUIRE(w.extend(std::span(&v, 1), sp, std::span(&seed, 1)));
  CHECK(last().at("prompt") == question.prompt);
  CHECK(last().at("max_tokens") == 64);
  w.release(t);
  w.release(v);
  narrow.release(u);
}

TEST_CASE("openai::stepping_model: a rating is the reply's first number in [0, 1]", "[adapters][openai][stepping][scale]") {
  using sm = oa::stepping_model;
  CHECK(sm::parse_rating("0.7") == 0.7);
  CHECK(sm::parse_rating("Score: 0.35") == 0.35);
  CHECK(sm::parse_rating(" 1") == 1.0);
  CHECK(sm::parse_rating("0") == 0.0);
  CHECK(sm::parse_rating("about .5, maybe 0.6") == 0.5);
  CHECK_FALSE(sm::parse_rating("1.5"));
  CHECK_FALSE(sm::parse_rating("-0.2"));
  CHECK_FALSE(sm::parse_rating("step 2: 0.4")); // the first number is 2
  CHECK_FALSE(sm::parse_rating("hard"));
  CHECK_FALSE(sm::parse_rating(""));
}

TEST_CASE("openai::stepping_model: rate_next rates from the kept text, retries an unparseable reply with a derived seed, counts every reply",
          "[adapters][openai][stepping][scale]") {
  scale_sim sim;
  reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
  oa::stepping_model m(quick(server));
  const std::uint64_t s = *m.begin(question), t = *m.begin(question);
  reckon::step_params sp;
  sp.effort = reckon::effort_level::deliberate;
  const std::uint64_t seeds[2] = {11, 12};
  REQUIRE(m.extend(std::span(&s, 1), sp, std::span(seeds, 1)));
  const std::string solved = m.text(s)->substr(question.prompt.size());

  // s: junk, then out of range, then "Score: 0.35"; t (no step yet): "0.7" at once.
  sim.rate = [&](const std::string& prompt, int attempt) -> std::string {
    if (prompt.find("current solution process: \nnext") != std::string::npos) return "0.7";
    return attempt == 0 ? "I cannot say." : attempt == 1 ? "1.5" : "Score: 0.35";
  };
  const std::uint64_t both[2] = {s, t};
  auto r = m.rate_next(both, seeds);
  REQUIRE(r);
  REQUIRE(r->difficulty.size() == 2);
  CHECK(r->difficulty[0] == 0.35);
  CHECK(r->difficulty[1] == 0.7);
  CHECK(r->usage.engine_calls == 4);
  {
    std::lock_guard lock(sim.m);
    CHECK(r->usage.generated_tokens == sim.generated);
    CHECK(r->usage.prefilled_tokens == sim.prefilled);
    const std::string want = std::string(oa::scale_score_instruction) + "\n\nproblem: " + question.prompt +
                             "\ncurrent solution process: " + solved + "\nnext step to be solved:" + m.rating().next_step +
                             "\nscore:";
    CHECK(std::count(sim.rating_prompts.begin(), sim.rating_prompts.end(), want) == 3);
    CHECK(want.find(m.effort().deliberate_prompt) == std::string::npos);
  }
  {
    // The retries' seeds are derived from the sequence's, so a retry is not the same request.
    std::lock_guard lock(server.m);
    std::vector<std::uint64_t> sent;
    for (const auto& req : server.requests)
      if (req.at("prompt").get<std::string>().find(solved) != std::string::npos && scale_sim::is_rating(req.at("prompt").get<std::string>()))
        sent.push_back(req.at("seed").get<std::uint64_t>());
    CHECK(sent == std::vector<std::uint64_t>{oa::detail::wire_seed(11), oa::detail::wire_seed(reckon::request_seed(11, 1)),
                                             oa::detail::wire_seed(reckon::request_seed(11, 2))});
    for (const auto& req : server.requests)
      if (scale_sim::is_rating(req.at("prompt").get<std::string>())) {
        CHECK(req.at("max_tokens") == 64);
        CHECK_FALSE(req.contains("stop"));
      }
  }
  sim.check_delivered(m.totals().delivered);

  // Never parseable: an engine_failure quoting the reply, after max_attempts requests, all counted.
  sim.rate = [](const std::string&, int) { return std::string("very hard"); };
  const auto before = m.totals().delivered.engine_calls;
  auto bad = m.rate_next(std::span(&s, 1), std::span(seeds, 1));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::engine_failure);
  CHECK(bad.error().message.find("no rating in [0, 1] in 4 replies; the last: \"very hard\"") != std::string::npos);
  CHECK(m.totals().delivered.engine_calls == before + 4);
  sim.check_delivered(m.totals().delivered);

  CHECK(m.rate_next(std::span(&s, 1), std::span(seeds, 2)).error().code == errc::invalid_argument);
  m.release(t);
  CHECK(m.rate_next(std::span(&t, 1), std::span(seeds, 1)).error().code == errc::invalid_argument);
  m.release(s);
}

TEST_CASE("openai::stepping_model: rate_plan outlines, then rates each outlined step with the earlier ones as the process",
          "[adapters][openai][stepping][scale]") {
  scale_sim sim;
  reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
  oa::stepping_model m(quick(server));
  // Not JSON, then keys that skip step2, then the code's ```json block with a LaTeX backslash.
  sim.outline = [](int attempt) -> std::string {
    if (attempt == 0) return "First find a, then b.";
    if (attempt == 1) return R"({"step1": "find a", "step3": "answer"})";
    return "```json\n{\"step1\": \"find \\frac{a}{2}\", \"step2\": \"find b\", \"step3\": \"answer\"}\n```";
  };
  std::map<std::string, std::string> rating{{"find \\frac{a}{2}", "0.2"}, {"find b", "0.8"}, {"answer", "0.6"}};
  sim.rate = [&](const std::string& prompt, int) { return rating.at(next_of(prompt)); };
  auto r = m.rate_plan(question, 21);
  REQUIRE(r);
  CHECK(r->difficulty == std::vector<double>{0.2, 0.8, 0.6});
  CHECK(r->usage.engine_calls == 6);
  {
    std::lock_guard lock(sim.m);
    CHECK(r->usage.generated_tokens == sim.generated);
    const std::string b = std::string(oa::scale_score_instruction) + "\n\nproblem: " + question.prompt +
                          "\ncurrent solution process: find \\frac{a}{2}\nnext step to be solved:find b\nscore:";
    CHECK(std::count(sim.rating_prompts.begin(), sim.rating_prompts.end(), b) == 1);
  }
  {
    std::lock_guard lock(server.m);
    CHECK(server.requests.at(0).at("prompt") ==
          std::string(oa::scale_outline_instruction) + "\n\nproblem: " + question.prompt + "\nJSON:");
    CHECK(server.requests.at(0).at("max_tokens") == 1024);
    CHECK(server.requests.at(0).at("seed") == oa::detail::wire_seed(reckon::request_seed(21, 0)));
    CHECK(server.requests.at(1).at("seed") == oa::detail::wire_seed(reckon::request_seed(reckon::request_seed(21, 0), 1)));
  }
  sim.check_delivered(m.totals().delivered);

  sim.outline = [](int) { return std::string("{}"); };
  auto bad = m.rate_plan(reckon::problem{.id = 4, .prompt = "Q: another?\n\n"}, 1);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::engine_failure);
  CHECK(bad.error().message.find("no outline {\"step1\": ...} in 4 replies; the last: \"{}\"") != std::string::npos);
  sim.check_delivered(m.totals().delivered);
  CHECK(m.live_sequences() == 0);
}

TEST_CASE("openai::stepping_model: parameters of effort and rating are checked at construction", "[adapters][openai][stepping][scale]") {
  auto bad = [](auto edit) {
    oa::effort_params e;
    oa::rating_params r;
    edit(e, r);
    try {
      oa::stepping_model m(oa::client_params{}, e, r);
    } catch (const reckon::exception& x) {
      return x.code() == errc::invalid_argument;
    }
    return false;
  };
  CHECK(bad([](oa::effort_params& e, oa::rating_params&) { e.deliberate_temperature = -1.0f; }));
  CHECK(bad([](oa::effort_params& e, oa::rating_params&) { e.standard_top_p = 0.0f; }));
  CHECK(bad([](oa::effort_params& e, oa::rating_params&) { e.deliberate_top_p = 1.5f; }));
  CHECK(bad([](oa::effort_params&, oa::rating_params& r) { r.max_attempts = 0; }));
  CHECK(bad([](oa::effort_params&, oa::rating_params& r) { r.score_max_tokens = 0; }));
  CHECK(bad([](oa::effort_params&, oa::rating_params& r) { r.score_template = "{instruction} {problem} {process}"; }));
  CHECK(bad([](oa::effort_params&, oa::rating_params& r) { r.outline_template = "{problem}"; }));
  CHECK(bad([](oa::effort_params&, oa::rating_params& r) { r.top_p = 0.0f; }));
  CHECK_FALSE(bad([](oa::effort_params&, oa::rating_params&) {}));
}

namespace {

template <class Rating>
void scale_through_server(bool in_context) {
  scale_sim sim;
  reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
  oa::stepping_model served(quick(server));
  // Up front: by the outlined step; in context: by the steps solved (one "v=" a step).
  const std::vector<std::string> upfront{"0.2", "0.8", "0.1"}, online{"0.9", "0.1", "0.1", "0.1"};
  sim.rate = [&](const std::string& prompt, int) -> std::string {
    if (!in_context) return next_of(prompt) == "find a" ? upfront[0] : next_of(prompt) == "find b" ? upfront[1] : upfront[2];
    const auto solved = step_sim::values(prompt.substr(prompt.find("current solution process:"))).size();
    return online.at(solved);
  };
  reckon::scale_params sp;
  sp.stepping.max_step_tokens = 64;
  const reckon::random_stream stream(reckon::stream_key{.seed = 3, .problem = question.id});
  const auto r = reckon::basic_scale<Rating, reckon::canonical_answer_key>(sp).run(served, question, reckon::budget{}, stream);
  REQUIRE(r);
  REQUIRE(r->answer);
  CHECK((*r->answer == "42" || *r->answer == "7"));
  CHECK(served.live_sequences() == 0);
  CHECK(r->cost.engine_calls == static_cast<std::uint64_t>(server.calls.load()));
  sim.check_delivered(served.totals().delivered);
  CHECK(r->cost.generated_tokens == served.totals().delivered.generated_tokens);
  // Three outlined steps and the answer: which went to System 2 is which carried the deliberate prompt.
  std::lock_guard lock(sim.m);
  REQUIRE(sim.step_prompts.size() == 4);
  std::vector<bool> deliberate;
  for (const auto& p : sim.step_prompts) deliberate.push_back(p.ends_with(served.effort().deliberate_prompt));
  // Up front: 0.2 (System 1), 0.8 (System 2), the last planned step and the one past it forced.
  // In context: 0.9 (System 2), 0.1 (System 1), then forced.
  CHECK(deliberate == (in_context ? std::vector<bool>{true, false, true, true} : std::vector<bool>{false, true, true, true}));
  // rate_plan rates the outline in both modes (in context only its length is used), rate_next each step.
  CHECK(sim.rating_prompts.size() == (in_context ? 3U + 4U : 3U));
  for (const auto& p : sim.step_prompts) CHECK(p.find(served.effort().deliberate_prompt) == p.rfind(served.effort().deliberate_prompt));
}

} // namespace

TEST_CASE("openai::stepping_model: reckon::scale runs through the server in both rating modes and releases its sequence",
          "[adapters][openai][stepping][scale]") {
  SECTION("ratings up front (the reference code)") { scale_through_server<reckon::rate_upfront>(false); }
  SECTION("ratings in context (the paper's Eq. 3)") { scale_through_server<reckon::rate_in_context>(true); }
}

#endif // RECKON_TEST_OPENAI
