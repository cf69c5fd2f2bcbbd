// SPDX-License-Identifier: Apache-2.0
// reckon::openai::served_prm against a real HTTP server on 127.0.0.1 answering in vLLM's /pooling shapes
// (Qwen2.5-Math-PRM and Math-Shepherd under STEP pooling), and a particle filter over it end to end.

// Built only where reckon::openai exists (see openai_test.cpp).
#if defined(RECKON_TEST_OPENAI)

#include <reckon/adapters/openai_prm.hpp>
#include <reckon/adapters/openai_stepping.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/strategy/particle_filter.hpp>

#include "openai_fixture.hpp"
#include <support/catch.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;
using reckon::errc;
namespace oa = reckon::openai;

static_assert(reckon::process_reward_model<oa::served_prm>);

// The fixture server on every POST path (the PRM's /pooling and any prefix before it).
struct pooling_server : reckon::test::openai_fixture_server {
  explicit pooling_server(handler_fn h) : openai_fixture_server(std::move(h), {}, {}, {R"(/.*)"}) {}
};

// The served PRM's truth for one step's text: a digit that is a multiple of 3 is a good step.
double step_truth(const std::string& step) {
  if (step.find("\\boxed{42}") != std::string::npos) return 0.95;
  if (step.find("\\boxed{") != std::string::npos) return 0.05;
  const auto at = step.rfind("v=");
  if (at != std::string::npos && at + 2 < step.size()) return (step[at + 2] - '0') % 3 == 0 ? 0.9 : 0.2;
  return 0.5;
}

// Simulates vLLM's STEP pooling over a text: one row per occurrence of `tag`, computed from the text
// between the previous line break (or tag) and the tag. Qwen rows are [P(neg), P(pos)]; Math-Shepherd
// rows are [p(+), p(-)] scaled by 0.6 (probabilities over the vocabulary, not yet renormalised).
struct prm_sim {
  bool shepherd = false;
  bool report_usage = true;
  std::mutex m;
  std::uint64_t ok = 0, prompt_tokens = 0;
  std::vector<std::string> scored_steps;

  [[nodiscard]] std::string tag() const { return shepherd ? "ки" : "<extra_0>"; }

  json rows(const std::string& text) {
    json out = json::array();
    std::size_t from = 0;
    for (std::size_t at = text.find(tag()); at != std::string::npos; at = text.find(tag(), from)) {
      std::string seg = text.substr(from, at - from);
      if (const auto nl = seg.rfind('\n'); nl != std::string::npos) seg = seg.substr(nl + 1);
      const double p = step_truth(seg);
      {
        std::lock_guard lock(m);
        scored_steps.push_back(seg);
      }
      out.push_back(shepherd ? json::array({0.6 * p, 0.6 * (1.0 - p)}) : json::array({1.0 - p, p}));
      from = at + tag().size();
    }
    return out;
  }

  // A good /pooling body for `req`, its entries in reverse order (the index maps them back).
  json respond(const json& req) {
    json data = json::array();
    std::uint64_t tokens = 0;
    const auto& input = req.at("input");
    for (std::size_t k = input.size(); k-- > 0;) {
      const std::string text = input[k].get<std::string>();
      tokens += (text.size() + 1) / 2;
      data.push_back({{"index", k}, {"object", "pooling"}, {"data", rows(text)}});
    }
    json body{{"id", "pool-1"}, {"object", "list"}, {"created", 0}, {"model", "prm"}, {"data", data}};
    if (report_usage) body["usage"] = {{"prompt_tokens", tokens}, {"total_tokens", tokens}, {"completion_tokens", 0}};
    std::lock_guard lock(m);
    ++ok;
    prompt_tokens += tokens;
    return body;
  }

  void serve(const json& req, httplib::Response& res) {
    res.status = 200;
    res.set_content(respond(req).dump(), "application/json");
  }
};

oa::client_params quick_client(const std::string& url) {
  oa::client_params p;
  p.url = url;
  p.max_retries = 2;
  p.backoff_seconds = 0.0;
  p.max_backoff_seconds = 0.05;
  p.timeout_seconds = 5.0;
  p.connect_timeout_seconds = 2.0;
  return p;
}

const reckon::problem prm_question{.id = 5, .prompt = "What is 6 * 7?"};

std::uint64_t estimate(const std::vector<std::string>& texts) {
  std::uint64_t chars = 0;
  for (const auto& t : texts) chars += t.size();
  return (chars + 3) / 4;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

} // namespace

TEST_CASE("openai::served_prm: Qwen2.5-Math-PRM's chat-templated text, P(positive) per tag, mapped back in order",
          "[adapters][openai][prm]") {
  prm_sim sim;
  pooling_server server([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
  auto cp = quick_client(server.url() + "/v1/");
  cp.model = "Qwen/Qwen2.5-Math-PRM-7B";
  cp.max_in_flight = 1; // the requests in order (the Math-Shepherd case below sends them in parallel)
  auto pp = oa::served_prm_params::qwen_math_prm();
  pp.max_inputs_per_request = 2;
  oa::served_prm prm(cp, pp);
  CHECK(prm.path() == "/pooling");

  const std::vector<std::string> a = {"Step 1: v=3.\n\n", "Step 2: v=5.\n\n", "The answer is \\boxed{42}."};
  const std::vector<std::string> b = {"Step 1: v=4.\n\n"};
  const std::vector<std::string> none;
  const std::vector<std::string> c = {"Step 1: v=9.\n\n", "The answer is \\boxed{7}."};
  const std::vector<reckon::solution_view> cands = {{a, true, 0}, {b, false, 1}, {none, false, 2}, {c, true, 3}};
  auto r = prm.score_steps(prm_question, cands);
  REQUIRE(r);
  REQUIRE(r->size() == 4);
  CHECK(r->at(0) == std::vector<double>{0.9, 0.2, 0.95});
  CHECK(r->at(1) == std::vector<double>{0.2});
  CHECK(r->at(2).empty());
  CHECK(r->at(3) == std::vector<double>{0.9, 0.05});

  // Three candidates with steps, two inputs a request: two requests; the empty one is not sent.
  REQUIRE(server.requests.size() == 2);
  const std::string expected_a =
      "<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n"
      "<|im_start|>user\nWhat is 6 * 7?<|im_end|>\n"
      "<|im_start|>assistant\nStep 1: v=3.<extra_0>Step 2: v=5.<extra_0>The answer is \\boxed{42}.<extra_0><|im_end|>\n";
  std::vector<std::string> sent;
  for (std::size_t q = 0; q < server.requests.size(); ++q) {
    const auto& req = server.requests[q];
    CHECK(server.paths[q] == "/pooling");
    CHECK(req.at("model") == "Qwen/Qwen2.5-Math-PRM-7B");
    CHECK(req.at("task") == "token_classify");
    REQUIRE(req.at("input").is_array());
    for (const auto& t : req.at("input")) sent.push_back(t.get<std::string>());
  }
  REQUIRE(sent.size() == 3);
  CHECK(sent[0] == expected_a);
  CHECK(count_of(sent[0], "<extra_0>") == 3);
  CHECK(count_of(sent[1], "<extra_0>") == 1);
  CHECK(count_of(sent[2], "<extra_0>") == 2);
  CHECK(server.requests[0].at("input").size() == 2);
  CHECK(server.requests[1].at("input").size() == 1);

  // Usage: the server's prompt tokens, one engine call per response, nothing generated.
  const auto t = prm.totals();
  CHECK(t.accepted == 2);
  CHECK(t.delivered.engine_calls == 2);
  CHECK(t.delivered.prefilled_tokens == sim.prompt_tokens);
  CHECK(t.prompt_tokens == sim.prompt_tokens);
  CHECK(t.delivered.generated_tokens == 0);
  CHECK(t.retries == 0);

  // No candidates, or none with steps: no request.
  CHECK(prm.score_steps(prm_question, {}).value().empty());
  const std::vector<reckon::solution_view> empty_only = {{none, false, 0}};
  CHECK(prm.score_steps(prm_question, empty_only).value() == std::vector<std::vector<double>>{{}});
  CHECK(server.calls.load() == 2);
}

TEST_CASE("openai::served_prm: Math-Shepherd's text, '+' over '+' and '-' renormalised; usage estimated when not reported",
          "[adapters][openai][prm]") {
  prm_sim sim;
  sim.shepherd = true;
  sim.report_usage = false;
  pooling_server server([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
  auto pp = oa::served_prm_params::math_shepherd();
  pp.max_inputs_per_request = 1; // one request per candidate
  oa::served_prm prm(quick_client(server.url()), pp);

  const std::vector<std::string> a = {"Step 1: v=3.\n\n", "Step 2: v=5.\n\n"};
  const std::vector<std::string> b = {"  Step 1: v=6.", "The answer is \\boxed{42}.\n\n"};
  const std::vector<reckon::solution_view> cands = {{a, false, 0}, {b, true, 1}};
  auto r = prm.score_steps(prm_question, cands);
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  REQUIRE(r->at(0).size() == 2);
  CHECK(r->at(0)[0] == reckon::test::Approx(0.9).margin(1e-12));
  CHECK(r->at(0)[1] == reckon::test::Approx(0.2).margin(1e-12));
  REQUIRE(r->at(1).size() == 2);
  CHECK(r->at(1)[0] == reckon::test::Approx(0.9).margin(1e-12));
  CHECK(r->at(1)[1] == reckon::test::Approx(0.95).margin(1e-12));

  REQUIRE(server.requests.size() == 2);
  std::vector<std::string> sent;
  for (const auto& req : server.requests) {
    CHECK_FALSE(req.contains("model"));
    REQUIRE(req.at("input").size() == 1);
    sent.push_back(req.at("input")[0].get<std::string>());
  }
  std::sort(sent.begin(), sent.end()); // requests run in parallel
  CHECK(sent[0] == "What is 6 * 7? Step 1: v=3. ки\nStep 2: v=5. ки");
  CHECK(sent[1] == "What is 6 * 7? Step 1: v=6. ки\nThe answer is \\boxed{42}. ки");
  CHECK(count_of(sent[0], "ки") == 2);
  const auto t = prm.totals();
  CHECK(t.delivered.engine_calls == 2);
  CHECK(t.delivered.prefilled_tokens == estimate({sent[0]}) + estimate({sent[1]}));
  CHECK(t.prompt_tokens == t.delivered.prefilled_tokens);
}

TEST_CASE("openai::served_prm: 429, 5xx, timeouts and drops are retried or fail; bad answers are engine failures; nothing counts twice",
          "[adapters][openai][prm]") {
  prm_sim sim;
  const std::vector<std::string> a = {"Step 1: v=3.\n\n", "Step 2: v=5.\n\n"};
  const std::vector<reckon::solution_view> cands = {{a, false, 0}};

  SECTION("a 429 and a 500 are retried, counted once") {
    pooling_server server([&](const json& req, int call, httplib::Response& res) {
      if (call == 0) {
        res.status = 429;
        res.set_content("slow down", "text/plain");
      } else if (call == 1) {
        res.status = 500;
        res.set_content("busy " + std::to_string(call), "text/plain");
      } else {
        sim.serve(req, res);
      }
    });
    oa::served_prm prm(quick_client(server.url()), {});
    auto r = prm.score_steps(prm_question, cands);
    REQUIRE(r);
    CHECK(r->at(0) == std::vector<double>{0.9, 0.2});
    const auto t = prm.totals();
    CHECK(t.attempts == 3);
    CHECK(t.retries == 2);
    CHECK(t.accepted == 1);
    CHECK(t.delivered.engine_calls == 1);
    CHECK(t.delivered.prefilled_tokens == sim.prompt_tokens);
    CHECK(sim.ok == 1);
  }
  SECTION("a 5xx that outlives the retries fails with its status and body") {
    pooling_server server([&](const json&, int call, httplib::Response& res) {
      res.status = 503;
      res.set_content("overloaded " + std::to_string(call), "text/plain");
    });
    oa::served_prm prm(quick_client(server.url()), {});
    auto r = prm.score_steps(prm_question, cands);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::engine_failure);
    CHECK(r.error().message.find("HTTP 503") != std::string::npos);
    CHECK(r.error().message.find("after 3 attempts") != std::string::npos);
    CHECK(prm.totals().failed_calls == 1);
    CHECK(prm.totals().delivered.engine_calls == 0);
  }
  SECTION("a slow answer is a timeout") {
    pooling_server server([&](const json& req, int, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(800));
      sim.serve(req, res);
    });
    auto cp = quick_client(server.url());
    cp.timeout_seconds = 0.2;
    oa::served_prm prm(cp, {});
    auto r = prm.score_steps(prm_question, cands);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::timeout);
    CHECK(server.calls.load() == 1);
    CHECK(prm.totals().delivered.engine_calls == 0);
  }
  SECTION("a dropped connection is retried and counted once") {
    pooling_server server([&](const json& req, int call, httplib::Response& res) {
      if (call == 0) {
        res.set_content_provider(1000, "application/json", [](std::size_t offset, std::size_t, httplib::DataSink& sink) {
          if (offset == 0) {
            sink.write("{\"data\"", 7);
            return true;
          }
          return false;
        });
        return;
      }
      sim.serve(req, res);
    });
    oa::served_prm prm(quick_client(server.url()), {});
    auto r = prm.score_steps(prm_question, cands);
    REQUIRE(r);
    CHECK(r->at(0) == std::vector<double>{0.9, 0.2});
    CHECK(prm.totals().retries == 1);
    CHECK(prm.totals().accepted == 1);
    CHECK(prm.totals().delivered.prefilled_tokens == sim.prompt_tokens);
  }
  SECTION("bad answers are engine failures, not retried, not counted") {
    struct bad_case {
      const char* name;
      std::function<std::string(const json&)> body;
      const char* says;
    };
    auto good_with = [&](const std::function<void(json&)>& edit) {
      return [&sim, edit](const json& req) {
        json b = sim.respond(req);
        edit(b);
        return b.dump();
      };
    };
    const std::vector<bad_case> cases = {
        {"not JSON", [](const json&) { return std::string("<html>oops</html>"); }, "not a JSON object"},
        {"a NaN (Python's json.dumps writes NaN)",
         [](const json&) { return std::string(R"({"data":[{"index":0,"data":[[0.5,NaN],[0.5,0.5]]}]})"); }, "not a JSON object"},
        {"no data", good_with([](json& b) { b.erase("data"); }), "no \"data\" list"},
        {"too few scores", good_with([](json& b) { b["data"][0]["data"].erase(1); }), "1 scores for 2 steps"},
        {"too many scores", good_with([](json& b) { b["data"][0]["data"].push_back({0.5, 0.5}); }), "3 scores for 2 steps"},
        {"a probability above 1", good_with([](json& b) { b["data"][0]["data"][1][1] = 1.5; }), "not a probability"},
        {"a negative probability", good_with([](json& b) { b["data"][0]["data"][0][1] = -0.25; }), "not a probability"},
        {"an overflowing number (1e999)",
         [](const json&) { return std::string(R"({"data":[{"index":0,"data":[[0.5,1e999],[0.5,0.5]]}]})"); }, "not a JSON object"},
        {"a row too short", good_with([](json& b) { b["data"][0]["data"][0] = json::array({0.5}); }), "at least 2 numbers"},
        {"a string score", good_with([](json& b) { b["data"][0]["data"][0][1] = "0.5"; }), "not a number"},
        {"a flat list", good_with([](json& b) { b["data"][0]["data"] = json::array({0.5, 0.5}); }), "at least 2 numbers"},
        {"no index", good_with([](json& b) { b["data"][0].erase("index"); }), "no valid \"index\""},
        {"an index out of range", good_with([](json& b) { b["data"][0]["index"] = 3; }), "no valid \"index\""},
        {"two entries for one input", good_with([](json& b) { b["data"].push_back(b["data"][0]); }), "2 entries for 1 inputs"},
    };
    for (const auto& bc : cases) {
      INFO(bc.name);
      pooling_server server([&](const json& req, int, httplib::Response& res) {
        res.status = 200;
        res.set_content(bc.body(req), "application/json");
      });
      oa::served_prm prm(quick_client(server.url()), {});
      auto r = prm.score_steps(prm_question, cands);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::engine_failure);
      CHECK(r.error().message.find(bc.says) != std::string::npos);
      CHECK(server.calls.load() == 1);
      const auto t = prm.totals();
      CHECK(t.accepted == 0);
      CHECK(t.delivered.engine_calls == 0);
      CHECK(t.failed_calls == 1);
    }
  }
  SECTION("a duplicated index among two inputs") {
    pooling_server server([&](const json& req, int, httplib::Response& res) {
      json b = sim.respond(req);
      b["data"][1]["index"] = b["data"][0]["index"];
      res.status = 200;
      res.set_content(b.dump(), "application/json");
    });
    oa::served_prm prm(quick_client(server.url()), {});
    const std::vector<reckon::solution_view> two = {{a, false, 0}, {a, false, 1}};
    auto r = prm.score_steps(prm_question, two);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("answered twice") != std::string::npos);
  }
  SECTION("a call that fails part-way keeps what the server did in totals(), and returns no score") {
    pooling_server server([&](const json& req, int, httplib::Response& res) {
      const std::string text = req.at("input")[0].get<std::string>();
      if (text.find("v=4") != std::string::npos) {
        res.status = 400;
        res.set_content("bad input", "text/plain");
        return;
      }
      sim.serve(req, res);
    });
    auto pp = oa::served_prm_params{};
    pp.max_inputs_per_request = 1;
    auto cp = quick_client(server.url());
    cp.max_in_flight = 1; // in order: the first request is answered, the second refused
    oa::served_prm prm(cp, pp);
    const std::vector<std::string> b = {"Step 1: v=4.\n\n"};
    const std::vector<reckon::solution_view> two = {{a, false, 0}, {b, false, 1}};
    auto r = prm.score_steps(prm_question, two);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("HTTP 400") != std::string::npos);
    const auto t = prm.totals();
    CHECK(t.accepted == 1);
    CHECK(t.delivered.engine_calls == 1);
    CHECK(t.delivered.prefilled_tokens == sim.prompt_tokens);
    CHECK(t.failed_calls == 1);
    CHECK(t.retries == 0);
  }
}

TEST_CASE("openai::served_prm: misuse is refused at construction or before any request", "[adapters][openai][prm]") {
  pooling_server server([](const json&, int, httplib::Response& res) { res.status = 500; });
  const auto cp = quick_client(server.url());
  auto refused = [&](const std::function<void(oa::served_prm_params&)>& edit, const std::string& says) {
    auto pp = oa::served_prm_params{};
    edit(pp);
    try {
      oa::served_prm prm(cp, pp);
      FAIL("accepted");
    } catch (const reckon::exception& e) {
      CHECK(e.error().code == errc::invalid_argument);
      CHECK(e.error().message.find(says) != std::string::npos);
    }
  };
  refused([](auto& p) { p.step_tag.clear(); }, "step_tag must not be empty");
  refused([](auto& p) { p.step_suffix = "\n"; }, "step_suffix must contain step_tag exactly once");
  refused([](auto& p) { p.step_suffix = "<extra_0><extra_0>"; }, "step_suffix must contain step_tag exactly once");
  refused([](auto& p) { p.step_separator = "<extra_0>"; }, "step_separator never");
  refused([](auto& p) { p.input_template = "{problem}"; }, "must contain {steps}");
  refused([](auto& p) { p.system_prompt = "use <extra_0>"; }, "must not contain step_tag");
  refused([](auto& p) { p.max_inputs_per_request = 0; }, "max_inputs_per_request must be > 0");
  refused([](auto& p) { p.path = "pooling"; }, "path must start with '/'");
  refused([](auto& p) { p = oa::served_prm_params::math_shepherd(); p.negative_index = 0; }, "must differ");

  oa::served_prm prm(cp, {});
  const std::vector<std::string> a = {"Step 1: v=3.", "I write <extra_0> here."};
  const std::vector<reckon::solution_view> cands = {{a, false, 0}};
  auto r = prm.score_steps(prm_question, cands);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_argument);
  CHECK(r.error().message.find("step 1 of candidate 0 contains the step tag") != std::string::npos);
  CHECK(server.calls.load() == 0);

  // A URL prefix stays; only its /v1 goes.
  auto with_prefix = cp;
  with_prefix.url = server.url() + "/api/v1";
  CHECK(oa::served_prm(with_prefix, {}).path() == "/api/pooling");
  with_prefix.url = server.url() + "/api";
  CHECK(oa::served_prm(with_prefix, {}).path() == "/api/pooling");
}

namespace {

// A served policy in vLLM's /v1/completions shape: three steps "Step k: v=d." (d from a hash of the
// prompt and seed), each ended by the delimiter "\n\n", then "The answer is \boxed{42}." when at
// least two of the three d are multiples of 3 ("\boxed{7}" otherwise) and EOS. Two characters a token.
struct policy_sim {
  static std::uint64_t fnv1a(const std::string& s, std::uint64_t h) {
    for (const unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
    return h;
  }
  static json respond(const json& req) {
    const std::string prompt = req.at("prompt").get<std::string>();
    const std::uint64_t seed = req.at("seed").get<std::uint64_t>();
    const std::uint64_t h = fnv1a(prompt, 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL));
    std::vector<int> vs;
    for (auto at = prompt.find("v="); at != std::string::npos; at = prompt.find("v=", at + 2))
      if (at + 2 < prompt.size()) vs.push_back(prompt[at + 2] - '0');
    std::string text;
    bool eos = false;
    if (vs.size() < 3) {
      text = "Step " + std::to_string(vs.size() + 1) + ": v=" + std::to_string((h >> 17) % 10) + ".";
    } else {
      const auto good = std::count_if(vs.begin(), vs.end(), [](int v) { return v % 3 == 0; });
      text = std::string("The answer is \\boxed{") + (good >= 2 ? "42" : "7") + "}.";
      eos = true;
    }
    json tokens = json::array(), lps = json::array(), tops = json::array();
    for (std::size_t i = 0; i < text.size(); i += 2) {
      tokens.push_back(text.substr(i, 2));
      lps.push_back(-0.5);
      tops.push_back(json{{text.substr(i, 2), -0.5}});
    }
    tokens.push_back(eos ? "" : "\n\n");
    lps.push_back(-0.5);
    tops.push_back(json{{eos ? "" : "\n\n", -0.5}});
    json choice{{"index", 0}, {"text", text}, {"finish_reason", "stop"}, {"stop_reason", eos ? json(nullptr) : json("\n\n")}};
    choice["logprobs"] = {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}};
    const std::uint64_t prompt_tokens = (prompt.size() + 1) / 2;
    return {{"object", "text_completion"},
            {"choices", json::array({choice})},
            {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", tokens.size()}, {"prompt_tokens_details", {{"cached_tokens", 0}}}}}};
  }
};

} // namespace

TEST_CASE("regression #19.2: a column index of UINT32_MAX asks for 2^32 columns instead of reading past the row",
          "[adapters][openai][prm]") {
  // The fuzz target openai_replies_fuzz found it: the columns a row needs were counted in uint32,
  // so max(positive_index, negative_index) + 1 wrapped to 0, the length check passed and the
  // reader indexed row[4294967295] (ASan: a heap read far past the row).
  pooling_server server([](const json&, int, httplib::Response& res) {
    res.status = 200;
    res.set_content(R"({"data":[{"index":0,"object":"pooling","data":[[0.25,0.75]]}]})", "application/json");
  });
  const std::vector<std::string> one = {"Step 1: 6 * 7 = 42."};
  const std::vector<reckon::solution_view> cands = {{one, false, 0}};
  for (const auto reading : {oa::prm_reading::positive_class, oa::prm_reading::token_pair}) {
    auto pp = oa::served_prm_params{};
    pp.reading = reading;
    if (reading == oa::prm_reading::positive_class) pp.positive_index = UINT32_MAX;
    else pp.negative_index = UINT32_MAX;
    oa::served_prm prm(quick_client(server.url()), pp);
    auto r = prm.score_steps(prm_question, cands);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::engine_failure);
    CHECK(r.error().message.find("step 0 of candidate 0: the row is not a list of at least 4294967296 numbers") !=
          std::string::npos);
    CHECK(prm.totals().accepted == 0);
  }
  // The reader alone, as the fuzz target calls it.
  auto pp = oa::served_prm_params{};
  pp.positive_index = UINT32_MAX;
  const std::vector<std::size_t> steps = {1};
  auto r = oa::detail::read_pooling_reply(R"({"data":[{"index":0,"data":[[0.25,0.75]]}]})", steps, {}, pp);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("at least 4294967296 numbers") != std::string::npos);
}

TEST_CASE("openai::served_prm: a particle filter runs end to end with openai::stepping_model, both on servers",
          "[adapters][openai][prm]") {
  const bool shepherd = GENERATE(false, true);
  prm_sim sim;
  sim.shepherd = shepherd;
  reckon::test::openai_fixture_server policy([](const json& req, int, httplib::Response& res) {
    res.status = 200;
    res.set_content(policy_sim::respond(req).dump(), "application/json");
  });
  pooling_server scoring([&](const json& req, int, httplib::Response& res) { sim.serve(req, res); });
  oa::stepping_model m(quick_client(policy.url()));
  oa::served_prm prm(quick_client(scoring.url()), shepherd ? oa::served_prm_params::math_shepherd() : oa::served_prm_params{});

  // Unguided, a path ends at 42 when two of its three digits are multiples of 3 (about 35%); the
  // PRM scores such steps 0.9 against 0.2 and the right answer 0.95 against 0.05, so the filter
  // ends at 42 (seed 11, as the judge's end-to-end test).
  const reckon::random_stream stream(11, prm_question.id);
  reckon::particle_filter_params pp;
  pp.n = 4;
  pp.max_steps = 8;
  const reckon::particle_filter pf(pp);
  auto r = pf.run(m, prm, prm_question, reckon::budget{}, stream);
  REQUIRE(r);
  CHECK(r->answer == std::optional<std::string>("42"));
  CHECK(m.live_sequences() == 0);
  // Every PRM call is one request here (4 particles, 8 inputs a request); each scored every step.
  const auto t = prm.totals();
  CHECK(t.delivered.engine_calls == static_cast<std::uint64_t>(scoring.calls.load()));
  CHECK(t.delivered.prefilled_tokens == sim.prompt_tokens);
  CHECK(r->cost.prm_calls == t.delivered.engine_calls);
  for (const auto& s : sim.scored_steps) CHECK(s.find("\n\n") == std::string::npos); // steps sent trimmed
}

#endif // RECKON_TEST_OPENAI
