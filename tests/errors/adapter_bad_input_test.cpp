// SPDX-License-Identifier: Apache-2.0
// The bad-input matrix of the OpenAI adapters (issue 19 item 5): each constructor's bad parameters,
// each call's bad arguments, and each way the server on 127.0.0.1 can answer badly (an HTTP error
// that outlives the retries, a malformed body, too many or no choices, logprobs that are not
// log-probabilities, silence past the timeout, a dropped or refused connection), with the error
// each gets. A call row also checks what the server saw: misuse sends nothing; a malformed answer
// is not retried and adds nothing to the delivered usage.

// Built where reckon::openai exists: tests/CMakeLists.txt links it into reckon_errors_tests and
// defines RECKON_TEST_OPENAI; elsewhere this file compiles to nothing.
#if defined(RECKON_TEST_OPENAI)

#include <reckon/adapters/openai.hpp>
#include <reckon/adapters/openai_judge.hpp>
#include <reckon/adapters/openai_stepping.hpp>

#include "adapters/openai_fixture.hpp"
#include <errors/bad_input_table.hpp>
#include <support/catch.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using nlohmann::json;
using reckon::errc;
namespace oa = reckon::openai;

constexpr double abi_nan = std::numeric_limits<double>::quiet_NaN();
constexpr double abi_inf = std::numeric_limits<double>::infinity();

// ---- constructors: throw reckon::exception (invalid_argument) -------------------------------------

// ---- calls: return an error -----------------------------------------------------------------------

/// How the server answers every request of a row.
using abi_reply = std::function<void(const json& request, int call, httplib::Response&)>;

struct abi_call_row {
  std::string call;
  errc code;
  std::string message;
  abi_reply reply;    // the server's answer (unused by misuse rows)
  int requests = -1;  // requests the server must have seen (-1: not checked)
  std::function<std::optional<reckon::error>(const std::string& url)> run;
};

void walk_call_rows(const std::vector<abi_call_row>& table) {
  for (const auto& row : table) {
    INFO(row.call);
    reckon::test::openai_fixture_server server([&](const json& req, int call, httplib::Response& res) {
      if (row.reply) row.reply(req, call, res);
    });
    std::optional<reckon::error> e;
    CHECK_NOTHROW(e = row.run(server.url()));
    if (!e) {
      FAIL_CHECK("the call succeeded");
      continue;
    }
    INFO("got: " << e->message);
    CHECK(e->code == row.code);
    CHECK_THAT(e->message, Catch::Contains(row.message));
    if (row.requests >= 0) CHECK(server.calls.load() == row.requests);
  }
}

oa::client_params abi_client(const std::string& url) {
  oa::client_params p;
  p.url = url;
  p.max_retries = 1;
  p.backoff_seconds = 0.0;
  p.max_backoff_seconds = 0.0;
  p.timeout_seconds = 2.0;
  p.connect_timeout_seconds = 1.0;
  return p;
}

abi_reply abi_status(int status, std::string body) {
  return [status, body](const json&, int, httplib::Response& res) {
    res.status = status;
    res.set_content(body, "application/json");
  };
}
abi_reply abi_body(std::string body) { return abi_status(200, std::move(body)); }

// A good completions body with `n` choices of text "ab" and one token each.
std::string abi_choices(std::size_t n, const std::string& finish = "stop") {
  json choices = json::array();
  for (std::size_t i = 0; i < n; ++i) choices.push_back({{"index", i}, {"text", "ab"}, {"finish_reason", finish}});
  return json{{"choices", choices}, {"usage", {{"prompt_tokens", 3}, {"completion_tokens", n}}}}.dump();
}

// One legacy-shaped choice whose one token has logprob `lp` and a top row {tok: top}.
std::string abi_logprob_body(double lp, const std::string& tok, double top) {
  json choice{{"index", 0}, {"text", "a"}, {"finish_reason", "length"},
              {"logprobs", {{"tokens", {tok}}, {"token_logprobs", {lp}}, {"top_logprobs", {{{tok, top}}}}, {"text_offset", {0}}}}};
  return json{{"choices", {choice}}, {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 1}}}}.dump();
}

abi_reply abi_slow(int ms) {
  return [ms](const json&, int, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    res.status = 200;
    res.set_content(abi_choices(1), "application/json");
  };
}

// Promises 1000 bytes, sends 10, then drops the connection (every time).
abi_reply abi_drop() {
  return [](const json&, int, httplib::Response& res) {
    res.set_content_provider(1000, "application/json", [](std::size_t offset, std::size_t, httplib::DataSink& sink) {
      if (offset == 0) {
        sink.write("{\"choices\"", 10);
        return true;
      }
      return false;
    });
  };
}

// The server's answers every adapter call reads through the same request layer and wire reader.
// `name` prefixes the rows, `run` makes one call with client parameters for the server's url.
void add_server_rows(std::vector<abi_call_row>& t, const std::string& name,
                     const std::function<std::optional<reckon::error>(oa::client_params)>& run) {
  auto call = [run](const std::string& url) { return run(abi_client(url)); };
  auto timed = [run](const std::string& url) {
    auto p = abi_client(url);
    p.timeout_seconds = 0.2;
    p.max_retries = 0;
    return run(p);
  };
  // max_retries = 1: a retried failure is seen twice.
  t.push_back({name + ": HTTP 400", errc::engine_failure, "HTTP 400", abi_status(400, R"({"error":"bad request"})"), 1, call});
  t.push_back({name + ": HTTP 404", errc::engine_failure, "HTTP 404", abi_status(404, "no such route"), 1, call});
  t.push_back({name + ": HTTP 429 past the retries", errc::engine_failure, "HTTP 429", abi_status(429, "slow down"), 2, call});
  t.push_back({name + ": HTTP 503 past the retries", errc::engine_failure, "HTTP 503",
               [](const json&, int c, httplib::Response& res) {
                 res.status = 503;
                 res.set_content("overloaded " + std::to_string(c), "text/plain"); // transient: retried
               },
               2, call});
  t.push_back({name + ": a body that is not JSON", errc::engine_failure, "malformed response", abi_body("{not json"), 1, call});
  t.push_back({name + ": an empty body", errc::engine_failure, "malformed response", abi_body(""), 1, call});
  t.push_back({name + ": choices not an array", errc::engine_failure, "no \"choices\" array", abi_body(R"({"choices": 3})"), 1, call});
  t.push_back({name + ": a choice not an object", errc::engine_failure, "a choice is not an object", abi_body(R"({"choices": [7]})"),
               1, call});
  t.push_back({name + ": a choice's text not a string", errc::engine_failure, "choice.text is not a string",
               abi_body(R"({"choices": [{"index": 0, "text": 5}]})"), 1, call});
  t.push_back({name + ": logprobs in no known shape", errc::engine_failure, "no known shape",
               abi_body(R"({"choices": [{"index": 0, "text": "a", "logprobs": {"weird": []}}]})"), 1, call});
  t.push_back({name + ": two choices share an index", errc::engine_failure, "share index",
               abi_body(R"({"choices": [{"index": 0, "text": "a"}, {"index": 0, "text": "b"}]})"), 1, call});
  t.push_back({name + ": silence past timeout_seconds", errc::timeout, "no answer", abi_slow(800), 1, timed});
  t.push_back({name + ": a connection dropped mid-body, past the retries", errc::engine_failure, "failed", abi_drop(), 2, call});
}

} // namespace

TEST_CASE("bad input: the OpenAI adapters' constructors reject bad client and judge parameters", "[errors][adapters][openai]") {
  std::vector<reckon::test::bad_input_row> t;
  auto client = [&](const std::string& what, std::string message, std::function<void(oa::client_params&)> edit) {
    // The three adapters share the client's checks.
    t.push_back({"openai::model: " + what, message, [edit] {
                   oa::client_params p;
                   edit(p);
                   oa::model m(p);
                 }});
    t.push_back({"openai::stepping_model: " + what, message, [edit] {
                   oa::client_params p;
                   edit(p);
                   oa::stepping_model m(p);
                 }});
    t.push_back({"openai::judge: " + what, message, [edit] {
                   oa::client_params p;
                   edit(p);
                   oa::judge m(p);
                 }});
  };
  client("an empty url", "http:// or https://", [](oa::client_params& p) { p.url = ""; });
  client("an ftp url", "http:// or https://", [](oa::client_params& p) { p.url = "ftp://127.0.0.1"; });
  client("a url without a host", "no host", [](oa::client_params& p) { p.url = "http://"; });
  client("max_n_per_request = 0", "max_n_per_request must be > 0", [](oa::client_params& p) { p.max_n_per_request = 0; });
  client("max_in_flight = 0", "max_in_flight must be > 0", [](oa::client_params& p) { p.max_in_flight = 0; });
  client("timeout_seconds = 0", "timeout_seconds", [](oa::client_params& p) { p.timeout_seconds = 0.0; });
  client("timeout_seconds NaN", "timeout_seconds", [](oa::client_params& p) { p.timeout_seconds = abi_nan; });
  client("timeout_seconds inf", "timeout_seconds", [](oa::client_params& p) { p.timeout_seconds = abi_inf; });
  client("connect_timeout_seconds -1", "connect_timeout_seconds", [](oa::client_params& p) { p.connect_timeout_seconds = -1.0; });
  client("connect_timeout_seconds inf", "connect_timeout_seconds", [](oa::client_params& p) { p.connect_timeout_seconds = abi_inf; });
  client("backoff_seconds -1", "backoff_seconds", [](oa::client_params& p) { p.backoff_seconds = -1.0; });
  client("backoff_seconds NaN", "backoff_seconds", [](oa::client_params& p) { p.backoff_seconds = abi_nan; });
  client("max_backoff_seconds below backoff_seconds", "backoff_seconds", [](oa::client_params& p) {
    p.backoff_seconds = 1.0;
    p.max_backoff_seconds = 0.5;
  });
  auto judged = [&](const std::string& what, std::string message, std::function<void(oa::judge_params&)> edit) {
    t.push_back({"openai::judge: " + what, message, [edit] {
                   oa::judge_params q;
                   edit(q);
                   oa::judge j(oa::client_params{}, q);
                 }});
  };
  judged("top_k = 0", "top_k must be in [1, 20]", [](oa::judge_params& q) { q.top_k = 0; });
  judged("top_k = 21", "top_k must be in [1, 20]", [](oa::judge_params& q) { q.top_k = 21; });
  judged("unjudged_score NaN", "unjudged_score", [](oa::judge_params& q) { q.unjudged_score = abi_nan; });
  judged("unjudged_score 1.5", "unjudged_score", [](oa::judge_params& q) { q.unjudged_score = 1.5; });
  judged("unjudged_score -0.1", "unjudged_score", [](oa::judge_params& q) { q.unjudged_score = -0.1; });
  judged("no yes tokens", "yes", [](oa::judge_params& q) { q.yes_tokens.clear(); });
  judged("no no tokens", "no", [](oa::judge_params& q) { q.no_tokens.clear(); });
  judged("a step template without {step}", "{step}", [](oa::judge_params& q) { q.step_template = "Is it right? {previous}"; });
  judged("an outcome template without {solution}", "{solution}", [](oa::judge_params& q) { q.outcome_template = "Right?"; });
  reckon::test::walk_bad_inputs(t);
}

TEST_CASE("bad input: openai::model::sample rejects misuse and bad server answers", "[errors][adapters][openai]") {
  std::vector<abi_call_row> t;
  auto sample = [](reckon::sampling_params sp, std::uint32_t n, std::string prompt = "p") {
    return [sp, n, prompt](const std::string& url) -> std::optional<reckon::error> {
      oa::model m(abi_client(url));
      auto r = m.sample({.id = 1, .prompt = prompt}, sp, n);
      if (r) return std::nullopt;
      // A failed call keeps nothing of a malformed answer in what was delivered.
      if (m.totals().delivered != reckon::usage{}) return reckon::error{errc::aborted, "usage counted for a failed call"};
      return r.error();
    };
  };
  auto misuse = [&](const std::string& what, std::string message, reckon::sampling_params sp, std::uint32_t n) {
    t.push_back({"openai::model::sample: " + what, errc::invalid_argument, std::move(message), {}, 0, sample(sp, n)});
  };
  misuse("n = 0", "n must be > 0", {}, 0);
  misuse("stats.top_k = 21", "top_k", reckon::sampling_params{.stats = {.logprobs = true, .top_k = 21}}, 1);
  misuse("a NaN temperature", "temperature", reckon::sampling_params{.temperature = std::numeric_limits<float>::quiet_NaN()}, 1);
  misuse("a negative temperature", "temperature", reckon::sampling_params{.temperature = -1.0F}, 1);
  misuse("top_p = 0", "top_p", reckon::sampling_params{.top_p = 0.0}, 1);
  misuse("top_p NaN", "top_p", reckon::sampling_params{.top_p = abi_nan}, 1);
  misuse("max_tokens = 0", "max_tokens", reckon::sampling_params{.max_tokens = 0}, 1);
  misuse("an empty stop string", "stop", reckon::sampling_params{.stop = {""}}, 1);
  add_server_rows(t, "openai::model::sample", [](oa::client_params p) -> std::optional<reckon::error> {
    oa::model m(p);
    auto r = m.sample({.id = 1, .prompt = "p"}, {}, 1);
    if (r) return std::nullopt;
    return r.error();
  });
  t.push_back({"openai::model::sample: more choices than asked", errc::engine_failure, "choices for n = 2", abi_body(abi_choices(3)),
               1, sample({}, 2)});
  t.push_back({"openai::model::sample: no choices", errc::engine_failure, "no choices", abi_body(abi_choices(0)), 1, sample({}, 1)});
  const reckon::sampling_params with_stats{.stats = {.logprobs = true, .entropy = true, .top_k = 1}};
  t.push_back({"openai::model::sample: a positive logprob", errc::engine_failure, "malformed logprobs",
               abi_body(abi_logprob_body(0.5, "a", 0.5)), 1, sample(with_stats, 1)});
  t.push_back({"openai::model::sample: a top-k row summing past 1", errc::engine_failure, "malformed logprobs",
               abi_body(R"({"choices": [{"index": 0, "text": "a", "finish_reason": "stop", "logprobs": {"tokens": ["a"],)"
                        R"( "token_logprobs": [-0.1], "top_logprobs": [{"a": -0.105, "b": -0.105}]}}]})"),
               1, sample(with_stats, 1)});
  t.push_back({"openai::model::sample: a prompt that is not UTF-8", errc::engine_failure, "UTF-8", abi_body(abi_choices(1)), 0,
               sample({}, 1, std::string("\xff\xfe", 2))});
  t.push_back({"openai::model::sample: a refused connection", errc::engine_failure, "after 2 attempts", {}, -1,
               [](const std::string&) -> std::optional<reckon::error> {
                 std::string url;
                 {
                   reckon::test::openai_fixture_server gone([](const json&, int, httplib::Response&) {});
                   url = gone.url();
                 }
                 oa::model m(abi_client(url));
                 auto r = m.sample({.id = 1, .prompt = "p"}, {}, 1);
                 if (r) return std::nullopt;
                 return r.error();
               }});
  walk_call_rows(t);
}

TEST_CASE("bad input: openai::stepping_model rejects misuse and bad server answers", "[errors][adapters][openai]") {
  std::vector<abi_call_row> t;
  using seq = oa::stepping_model::sequence;
  // `use(model, root)` misuses a model holding one begun sequence.
  auto misuse = [&](const std::string& what, std::string message,
                    std::function<std::optional<reckon::error>(oa::stepping_model&, seq)> use, int requests = 0) {
    t.push_back({"openai::stepping_model: " + what, errc::invalid_argument, std::move(message), abi_body(abi_choices(1, "length")),
                 requests, [use](const std::string& url) -> std::optional<reckon::error> {
                   oa::stepping_model m(abi_client(url));
                   auto root = m.begin({.id = 1, .prompt = "p"});
                   if (!root) return root.error();
                   return use(m, *root);
                 }});
  };
  auto err = [](auto r) -> std::optional<reckon::error> {
    if (r) return std::nullopt;
    return r.error();
  };
  misuse("fork of an unknown sequence", "unknown or released sequence", [err](oa::stepping_model& m, seq s) { return err(m.fork(s + 99)); });
  misuse("fork of a released sequence", "unknown or released sequence", [err](oa::stepping_model& m, seq s) {
    m.release(s);
    return err(m.fork(s));
  });
  misuse("text of an unknown sequence", "unknown or released sequence", [err](oa::stepping_model& m, seq s) { return err(m.text(s + 99)); });
  misuse("extend with fewer seeds than sequences", "seqs and seeds differ in length", [err](oa::stepping_model& m, seq s) {
    const std::vector<seq> seqs{s};
    return err(m.extend(seqs, {}, std::span<const std::uint64_t>{}));
  });
  misuse("extend of an unknown sequence", "unknown or released sequence", [err](oa::stepping_model& m, seq s) {
    const std::vector<seq> seqs{s + 99};
    const std::vector<std::uint64_t> seeds{1};
    return err(m.extend(seqs, {}, seeds));
  });
  misuse("extend of a sequence twice in one call", "repeated", [err](oa::stepping_model& m, seq s) {
    const std::vector<seq> seqs{s, s};
    const std::vector<std::uint64_t> seeds{1, 2};
    return err(m.extend(seqs, {}, seeds));
  });
  misuse("extend with stats.top_k = 21", "top_k", [err](oa::stepping_model& m, seq s) {
    const std::vector<seq> seqs{s};
    const std::vector<std::uint64_t> seeds{1};
    return err(m.extend(seqs, reckon::step_params{.stats = {.logprobs = true, .top_k = 21}}, seeds));
  });
  misuse("extend with max_step_tokens = 0", "max_step_tokens", [err](oa::stepping_model& m, seq s) {
    const std::vector<seq> seqs{s};
    const std::vector<std::uint64_t> seeds{1};
    return err(m.extend(seqs, reckon::step_params{.max_step_tokens = 0}, seeds));
  });
  misuse("extend with an empty delimiter", "delimiter", [err](oa::stepping_model& m, seq s) {
    const std::vector<seq> seqs{s};
    const std::vector<std::uint64_t> seeds{1};
    return err(m.extend(seqs, reckon::step_params{.delimiter = ""}, seeds));
  });
  misuse("extend with a NaN temperature", "temperature", [err](oa::stepping_model& m, seq s) {
    const std::vector<seq> seqs{s};
    const std::vector<std::uint64_t> seeds{1};
    return err(m.extend(seqs, reckon::step_params{.temperature = std::numeric_limits<float>::quiet_NaN()}, seeds));
  });
  // One request: the first extend reaches max_total_tokens and finishes the sequence.
  misuse("extend of a finished sequence", "a sequence is done", [err](oa::stepping_model& m, seq s) -> std::optional<reckon::error> {
    const std::vector<seq> seqs{s};
    const std::vector<std::uint64_t> seeds{1};
    const reckon::step_params cap{.max_step_tokens = 1, .max_total_tokens = 1};
    auto first = m.extend(seqs, cap, seeds);
    if (!first) return first.error();
    return err(m.extend(seqs, cap, seeds));
  }, 1);
  auto one_step = [](oa::client_params p) -> std::optional<reckon::error> {
    oa::stepping_model m(p);
    auto root = m.begin({.id = 1, .prompt = "p"});
    if (!root) return root.error();
    const std::vector<seq> seqs{*root};
    const std::vector<std::uint64_t> seeds{1};
    auto r = m.extend(seqs, {}, seeds);
    if (r) return std::nullopt;
    // On any error no sequence changes.
    if (m.text(*root).value_or("") != "p") return reckon::error{errc::aborted, "a failed extend changed the sequence"};
    return r.error();
  };
  add_server_rows(t, "openai::stepping_model::extend", one_step);
  auto step_url = [one_step](const std::string& url) { return one_step(abi_client(url)); };
  t.push_back({"openai::stepping_model::extend: two choices for one sequence", errc::engine_failure, "2 choices for n = 1",
               abi_body(abi_choices(2)), 1, step_url});
  t.push_back({"openai::stepping_model::extend: no choices", errc::engine_failure, "0 choices for n = 1", abi_body(abi_choices(0)), 1,
               step_url});
  t.push_back({"openai::stepping_model::extend: more tokens than max_tokens", errc::engine_failure, "tokens for max_tokens",
               abi_body(R"({"choices": [{"index": 0, "text": "a", "finish_reason": "length"}], "usage": {"completion_tokens": 100000}})"),
               1, step_url});
  walk_call_rows(t);
}

TEST_CASE("regression #19.5: a logprob that is neither a number nor null is a malformed response, not p = 0",
          "[errors][adapters][openai]") {
  // The wire reader read any non-number as null (-inf), so "nan" or "-0.5" (strings) passed as a
  // token of probability 0 and a call on such a body succeeded.
  const std::string legacy_chosen =
      R"({"choices": [{"index": 0, "text": "a", "logprobs": {"tokens": ["a"], "token_logprobs": ["nan"]}}]})";
  const std::string legacy_top = R"({"choices": [{"index": 0, "text": "a", "logprobs": {"tokens": [" Yes"],)"
                                 R"( "token_logprobs": [-0.1], "top_logprobs": [{" Yes": "-0.1"}]}}]})";
  const std::string chat_chosen =
      R"({"choices": [{"index": 0, "text": "a", "logprobs": {"content": [{"token": "a", "logprob": true, "top_logprobs": []}]}}]})";
  std::vector<abi_call_row> t;
  auto sample = [](const std::string& url) -> std::optional<reckon::error> {
    oa::model m(abi_client(url));
    auto r = m.sample({.id = 1, .prompt = "p"}, {}, 1);
    if (r) return std::nullopt;
    return r.error();
  };
  auto step = [](const std::string& url) -> std::optional<reckon::error> {
    oa::stepping_model m(abi_client(url));
    auto root = m.begin({.id = 1, .prompt = "p"});
    const std::vector<oa::stepping_model::sequence> seqs{*root};
    const std::vector<std::uint64_t> seeds{1};
    auto r = m.extend(seqs, {}, seeds);
    if (r) return std::nullopt;
    return r.error();
  };
  auto judge = [](const std::string& url) -> std::optional<reckon::error> {
    oa::judge j(abi_client(url));
    const std::vector<std::string> steps{"Step 1.\n\n"};
    const std::vector<reckon::solution_view> candidates{reckon::solution_view{.steps = steps}};
    auto r = j.score_steps({.id = 1, .prompt = "p"}, candidates);
    if (r) return std::nullopt;
    return r.error();
  };
  for (const auto& [shape, body] : {std::pair{"a chosen logprob \"nan\" (legacy)", legacy_chosen},
                                    std::pair{"a top-k logprob \"-0.1\" (legacy)", legacy_top},
                                    std::pair{"a chosen logprob true (chat)", chat_chosen}}) {
    t.push_back({std::string("openai::model::sample: ") + shape, errc::engine_failure, "neither a number nor null", abi_body(body), 1, sample});
    t.push_back({std::string("openai::stepping_model::extend: ") + shape, errc::engine_failure, "neither a number nor null", abi_body(body), 1,
                 step});
    t.push_back({std::string("openai::judge::score_steps: ") + shape, errc::engine_failure, "neither a number nor null", abi_body(body), 1,
                 judge});
  }
  walk_call_rows(t);
}

TEST_CASE("bad input: openai::judge rejects bad server answers", "[errors][adapters][openai]") {
  std::vector<abi_call_row> t;
  auto judge_call = [](oa::client_params p) -> std::optional<reckon::error> {
    oa::judge j(p);
    const std::vector<std::string> steps{"Step 1.\n\n"};
    const std::vector<reckon::solution_view> candidates{reckon::solution_view{.steps = steps}};
    auto r = j.score_steps({.id = 1, .prompt = "p"}, candidates);
    if (r) return std::nullopt;
    if (j.judged().judged != 0 || j.judged().cached != 0) return reckon::error{errc::aborted, "a failed call judged a prompt"};
    return r.error();
  };
  add_server_rows(t, "openai::judge::score_steps", judge_call);
  auto url_call = [judge_call](const std::string& url) { return judge_call(abi_client(url)); };
  t.push_back({"openai::judge::score_steps: two choices", errc::engine_failure, "2 choices for n = 1", abi_body(abi_choices(2)), 1,
               url_call});
  t.push_back({"openai::judge::score_steps: no top logprobs", errc::engine_failure, "no top logprobs", abi_body(abi_choices(1)), 1,
               url_call});
  t.push_back({"openai::judge::score_steps: a positive top logprob", errc::engine_failure, "not a log-probability",
               abi_body(abi_logprob_body(-0.1, " Yes", 0.5)), 1, url_call});
  walk_call_rows(t);
}

#endif // RECKON_TEST_OPENAI
