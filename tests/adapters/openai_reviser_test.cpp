// SPDX-License-Identifier: Apache-2.0
// reckon::openai::reviser: the revision prompt it builds, its template checks, its requests against a real
// HTTP server on 127.0.0.1, and PRISM end to end over it with the served PRM.

// Built only where reckon::openai exists (see openai_test.cpp).
#if defined(RECKON_TEST_OPENAI)

#include <reckon/adapters/openai_prm.hpp>
#include <reckon/adapters/openai_reviser.hpp>
#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/prism.hpp>
#include <reckon/strategy/sequential_revisions.hpp>

#include "openai_fixture.hpp"
#include <support/catch.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;
using reckon::errc;
namespace oa = reckon::openai;

static_assert(reckon::reviser<oa::reviser>);
static_assert(reckon::sampling_model<oa::reviser>);
static_assert(reckon::logprob_model<oa::reviser>);

oa::client_params reviser_client(const std::string& url) {
  oa::client_params p;
  p.url = url;
  p.max_retries = 2;
  p.backoff_seconds = 0.0;
  p.max_backoff_seconds = 0.05;
  p.timeout_seconds = 5.0;
  p.connect_timeout_seconds = 2.0;
  return p;
}

// A /v1/completions body with one choice per n, each `text`, its tokens two characters each.
json completions_body(const std::vector<std::string>& texts, std::uint64_t prompt_tokens) {
  json choices = json::array();
  std::uint64_t generated = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    json tokens = json::array(), lps = json::array(), tops = json::array();
    for (std::size_t c = 0; c < texts[i].size(); c += 2) {
      tokens.push_back(texts[i].substr(c, 2));
      lps.push_back(-0.5);
      tops.push_back(json{{texts[i].substr(c, 2), -0.5}});
    }
    generated += tokens.size();
    choices.push_back({{"index", i},
                       {"text", texts[i]},
                       {"finish_reason", "stop"},
                       {"logprobs", {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}}}});
  }
  return {{"object", "text_completion"},
          {"choices", choices},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", generated}, {"prompt_tokens_details", {{"cached_tokens", 0}}}}}};
}

const reckon::problem rev_question{.id = 9, .prompt = "What is 6 * 7?"};

} // namespace

TEST_CASE("openai::reviser: the prompt for a candidate with feedback and history, exactly", "[adapters][openai][reviser]") {
  oa::reviser rv(reviser_client("http://127.0.0.1:9"));
  const std::vector<std::string> steps = {"Step 1: v=3.\n\n", "  Step 2: v=5.\n\n", "The answer is \\boxed{7}."};
  const std::vector<double> scores = {0.9, 0.25, 0.1};
  const std::vector<std::string> first = {"An older attempt.\n\n", "The answer is \\boxed{8}."};
  const std::vector<std::string> second = {"A newer attempt."};
  const std::vector<reckon::solution_view> history = {{first, true, 0}, {second, true, 1}};
  reckon::revision_request q;
  q.candidate = {steps, true, 2};
  q.feedback = scores;
  q.history = history;
  q.new_approach = true;
  const std::string expected =
      "Problem:\nWhat is 6 * 7?\n\n"
      "Earlier attempts, oldest first:\n"
      "Attempt 1:\nAn older attempt.\n\nThe answer is \\boxed{8}.\n\n"
      "Attempt 2:\nA newer attempt.\n\n"
      "Previous reasoning:\n<step>Step 1: v=3.</step>\n<step>Step 2: v=5.</step>\n<step>The answer is \\boxed{7}.</step>\n\n"
      "Step-by-step verification (the reward model's score of each step, from 0 to 1):\n"
      "Step 1: 0.900\nStep 2: 0.250 <- the first step below 0.50\nStep 3: 0.100\n\n"
      "Refine the solution by fixing step 2, the first step scored below the threshold, and every step after it. "
      "Maintain the steps before it unless you find a better approach."
      "\n\nFormatting requirements:\n- Write one step per paragraph, separated by a blank line.\n"
      "- Keep the number of steps small and concise.\n"
      "- Your LAST step MUST contain the final answer: The final answer is: \\boxed{...}"
      "\n\nIMPORTANT: Even if the solution seems correct, explore a DIFFERENT reasoning approach. Be creative and try an "
      "alternative method to solve this problem.";
  CHECK(rv.render(rev_question, q) == expected);

  // Without feedback and history (sequential revisions with one attempt): no sections, the rewrite instruction.
  reckon::revision_request bare;
  bare.candidate = {steps, true, 2};
  const std::string plain = rv.render(rev_question, bare);
  CHECK(plain.rfind("Problem:\nWhat is 6 * 7?\n\nPrevious reasoning:\n<step>Step 1: v=3.</step>", 0) == 0);
  CHECK(plain.find("verification") == std::string::npos);
  CHECK(plain.find("Earlier attempts") == std::string::npos);
  CHECK(plain.find("The previous reasoning may contain mistakes. Write a corrected solution.\n\nFormatting") != std::string::npos);
  CHECK(plain.find("IMPORTANT") == std::string::npos);

  // Feedback with no step below the threshold: the keep instruction, no step named.
  const std::vector<double> high = {0.9, 0.8, 0.7};
  bare.feedback = high;
  const std::string kept = rv.render(rev_question, bare);
  CHECK(kept.find("Refine the solution by fixing any weak steps.") != std::string::npos);
  CHECK(kept.find("<- the first step") == std::string::npos);
}

TEST_CASE("openai::reviser: placeholders, literal braces and the threshold are parameters; bad templates are refused",
          "[adapters][openai][reviser]") {
  oa::reviser_params rp;
  rp.prompt_template = "{{literal}} [{instruction}] <{candidate}> {problem}{feedback}{history} \\boxed{{}} { x }";
  rp.threshold = 0.95;
  rp.fix_instruction = "fix {step}";
  rp.format_instruction.clear();
  rp.feedback_heading = "F:";
  oa::reviser rv(reviser_client("http://127.0.0.1:9"), rp);
  const std::vector<std::string> steps = {"a", "b"};
  const std::vector<double> scores = {0.96, 0.94};
  reckon::revision_request q;
  q.candidate = {steps, false, 0};
  q.feedback = scores;
  CHECK(rv.render(rev_question, q) ==
        "{literal} [fix 2] <<step>a</step>\n<step>b</step>> What is 6 * 7?F:Step 1: 0.960\nStep 2: 0.940 <- the first step below 0.95\n\n"
        " \\boxed{} { x }");

  auto refused = [](const std::function<void(oa::reviser_params&)>& edit, const std::string& says) {
    oa::reviser_params p;
    edit(p);
    try {
      oa::reviser r(reviser_client("http://127.0.0.1:9"), p);
      FAIL("accepted");
    } catch (const reckon::exception& e) {
      CHECK(e.error().code == errc::invalid_argument);
      CHECK(e.error().message.find(says) != std::string::npos);
    }
  };
  refused([](auto& p) { p.prompt_template = "{problem} {candidate} {feedbak}"; }, "unknown placeholder {feedbak}");
  refused([](auto& p) { p.prompt_template = "{problem} {Candidate}"; }, "unknown placeholder {Candidate}");
  refused([](auto& p) { p.prompt_template = "{candidate} {problem"; }, "unterminated placeholder at offset 12");
  refused([](auto& p) { p.prompt_template = "{problem} {{candidate}}"; }, "must contain {candidate}");
  refused([](auto& p) { p.threshold = 1.5; }, "threshold must be in [0, 1]");
  refused([](auto& p) { p.threshold = std::nan(""); }, "threshold must be in [0, 1]");
}

TEST_CASE("openai::reviser: one request per revision with its own seed, completions in request order, errors lose nothing",
          "[adapters][openai][reviser]") {
  std::mutex m;
  std::uint64_t served_prompt_tokens = 0, served_generated = 0;
  auto answer = [&](const json& req, httplib::Response& res) {
    // The revision echoes the last step it was shown, so the order can be checked.
    const std::string prompt = req.at("prompt").get<std::string>();
    const auto at = prompt.rfind("<step>");
    const std::string text =
        at == std::string::npos ? std::string("sampled") : "revised " + prompt.substr(at + 6, prompt.find("</step>", at) - at - 6);
    {
      std::lock_guard lock(m);
      served_prompt_tokens += (prompt.size() + 1) / 2;
      served_generated += (text.size() + 1) / 2;
    }
    res.status = 200;
    res.set_content(completions_body({text}, (prompt.size() + 1) / 2).dump(), "application/json");
  };
  const std::vector<std::vector<std::string>> all = {{"zero"}, {"one"}, {"two"}, {"three"}, {"four"}};
  std::vector<reckon::revision_request> requests(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    requests[i].candidate = {all[i], false, i};
    requests[i].seed = 1000 + 7 * i;
  }
  reckon::sampling_params sp;
  sp.max_tokens = 64;
  sp.seed = 99; // not used: each request has its own

  SECTION("in order, each with its seed, bounded in flight, usage summed") {
    reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      answer(req, res);
    });
    auto cp = reviser_client(server.url());
    cp.max_in_flight = 2;
    oa::reviser rv(cp);
    auto r = rv.revise(rev_question, requests, sp);
    REQUIRE(r);
    REQUIRE(r->completions.size() == 5);
    const std::vector<std::string> names = {"zero", "one", "two", "three", "four"};
    for (std::size_t i = 0; i < 5; ++i) {
      CHECK(r->completions[i].text == "revised " + names[i]);
      CHECK(r->completions[i].source == i);
    }
    CHECK(server.calls.load() == 5);
    CHECK(server.max_in_flight.load() <= 2);
    std::vector<std::uint32_t> seeds, expected;
    for (const auto& req : server.requests) {
      CHECK(req.at("n") == 1);
      CHECK(req.at("max_tokens") == 64);
      seeds.push_back(req.at("seed").get<std::uint32_t>());
    }
    for (const auto& q : requests) expected.push_back(oa::detail::wire_seed(reckon::request_seed(q.seed, 0)));
    std::sort(seeds.begin(), seeds.end());
    std::sort(expected.begin(), expected.end());
    CHECK(seeds == expected);
    CHECK(r->usage.engine_calls == 5);
    CHECK(r->usage.prefilled_tokens == served_prompt_tokens);
    CHECK(r->usage.generated_tokens == served_generated);
    CHECK(rv.totals().delivered == r->usage);
    // sample() is openai::model's: the problem's prompt as it is.
    auto s = rv.sample(rev_question, sp, 1);
    REQUIRE(s);
    CHECK(s->completions.at(0).text == "sampled");
    CHECK(server.requests.back().at("prompt") == rev_question.prompt);
  }
  SECTION("429 and 500 are retried and counted once") {
    reckon::test::openai_fixture_server server([&](const json& req, int call, httplib::Response& res) {
      if (call == 0) {
        res.status = 429;
        return;
      }
      if (call == 1) {
        res.status = 502;
        res.set_content("gateway " + std::to_string(call), "text/plain");
        return;
      }
      answer(req, res);
    });
    auto cp = reviser_client(server.url());
    cp.max_in_flight = 1;
    oa::reviser rv(cp);
    auto r = rv.revise(rev_question, requests, sp);
    REQUIRE(r);
    CHECK(r->completions.size() == 5);
    CHECK(rv.totals().retries == 2);
    CHECK(r->usage.engine_calls == 5);
    CHECK(r->usage.prefilled_tokens == served_prompt_tokens);
    CHECK(rv.totals().delivered == r->usage);
  }
  SECTION("a failure, a timeout or a malformed body fails the call with no completion; what was served stays in totals()") {
    enum class how { http_400, timeout, malformed };
    const how h = GENERATE(how::http_400, how::timeout, how::malformed);
    reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) {
      if (req.at("prompt").get<std::string>().find("<step>two</step>") != std::string::npos) {
        if (h == how::http_400) {
          res.status = 400;
          res.set_content("context too long", "text/plain");
        } else if (h == how::timeout) {
          std::this_thread::sleep_for(std::chrono::milliseconds(800));
          answer(req, res);
        } else {
          res.status = 200;
          res.set_content("{\"choices\": [", "application/json");
        }
        return;
      }
      answer(req, res);
    });
    auto cp = reviser_client(server.url());
    cp.max_in_flight = 1;
    cp.timeout_seconds = 0.3;
    oa::reviser rv(cp);
    auto r = rv.revise(rev_question, requests, sp);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == (h == how::timeout ? errc::timeout : errc::engine_failure));
    CHECK(server.calls.load() == 3); // in order, one in flight: the failure stops the rest
    const auto t = rv.totals();
    CHECK(t.delivered.engine_calls == 2);
    CHECK(t.delivered.prefilled_tokens == served_prompt_tokens);
    CHECK(t.failed_calls == 1);
  }
  SECTION("misuse is refused before any request") {
    reckon::test::openai_fixture_server server([&](const json& req, int, httplib::Response& res) { answer(req, res); });
    oa::reviser rv(reviser_client(server.url()));
    auto bad = requests;
    const std::vector<double> two = {0.5, 0.5};
    bad[1].feedback = two;
    auto r = rv.revise(rev_question, bad, sp);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(r.error().message.find("request 1 has 2 feedback scores for 1 steps") != std::string::npos);
    const std::vector<double> nan = {std::nan("")};
    bad[1].feedback = nan;
    r = rv.revise(rev_question, bad, sp);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("outside [0, 1]") != std::string::npos);
    auto zero = sp;
    zero.max_tokens = 0;
    r = rv.revise(rev_question, requests, zero);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(server.calls.load() == 0);
    auto none = rv.revise(rev_question, {}, sp);
    REQUIRE(none);
    CHECK(none->completions.empty());
  }
}

namespace {

// The served PRM for PRISM's run: rows [P(neg), P(pos)] at each "<extra_0>"; a step with a digit that
// is a multiple of 3 is good, and the answer 42 is right.
json prism_prm_body(const json& req) {
  json data = json::array();
  const auto& input = req.at("input");
  for (std::size_t k = 0; k < input.size(); ++k) {
    const std::string text = input[k].get<std::string>();
    json rows = json::array();
    std::size_t from = 0;
    for (auto at = text.find("<extra_0>"); at != std::string::npos; at = text.find("<extra_0>", from)) {
      std::string seg = text.substr(from, at - from);
      if (const auto nl = seg.rfind('\n'); nl != std::string::npos) seg = seg.substr(nl + 1);
      double p = 0.5;
      if (seg.find("\\boxed{42}") != std::string::npos) p = 0.95;
      else if (seg.find("\\boxed{") != std::string::npos) p = 0.05;
      else if (const auto v = seg.rfind("v="); v != std::string::npos && v + 2 < seg.size()) p = (seg[v + 2] - '0') % 3 == 0 ? 0.9 : 0.2;
      rows.push_back({1.0 - p, p});
      from = at + 9;
    }
    data.push_back({{"index", k}, {"object", "pooling"}, {"data", rows}});
  }
  return {{"object", "list"}, {"data", data}, {"usage", {{"prompt_tokens", 10 * input.size()}}}};
}

// The served PRM on 127.0.0.1's /pooling.
struct prism_prm_server : reckon::test::openai_fixture_server {
  prism_prm_server()
      : openai_fixture_server([](const json& request, int, httplib::Response& res) {
          res.status = 200;
          res.set_content(prism_prm_body(request).dump(), "application/json");
        }, {}, {}, {"/pooling"}) {}
};

} // namespace

TEST_CASE("openai::reviser: PRISM runs end to end over the reviser and the served PRM, both on servers",
          "[adapters][openai][reviser][prm]") {
  std::mutex m;
  std::vector<std::string> revision_prompts;
  // The policy: a first sample is always wrong (digits 1 and 4, answer 7); a revision fixes it.
  reckon::test::openai_fixture_server policy([&](const json& req, int, httplib::Response& res) {
    const std::string prompt = req.at("prompt").get<std::string>();
    const auto n = req.at("n").get<std::size_t>();
    const bool revision = prompt.find("Previous reasoning:") != std::string::npos;
    if (revision) {
      std::lock_guard lock(m);
      revision_prompts.push_back(prompt);
    }
    const std::string text = revision ? "Step 1: v=3.\n\nStep 2: v=6.\n\nThe final answer is: \\boxed{42}"
                                      : "Step 1: v=1.\n\nStep 2: v=4.\n\nThe answer is \\boxed{7}.";
    res.status = 200;
    res.set_content(completions_body(std::vector<std::string>(n, text), (prompt.size() + 1) / 2).dump(), "application/json");
  });
  prism_prm_server scoring;

  oa::reviser rv(reviser_client(policy.url()));
  oa::served_prm prm(reviser_client(scoring.url()));
  reckon::prism_params pp;
  pp.n = 4;
  pp.rounds = 1;
  pp.sampling.max_tokens = 64;
  const reckon::prism strategy(pp);
  auto r = strategy.run(rv, prm, rev_question, reckon::budget{}, reckon::random_stream(5, rev_question.id));
  REQUIRE(r);
  // Only a revision reaches 42: the reviser was asked, with the PRM's feedback, and its answer won.
  CHECK(r->answer == std::optional<std::string>("42"));
  REQUIRE_FALSE(revision_prompts.empty());
  CHECK(revision_prompts[0].find("Step 2: 0.200") != std::string::npos);
  CHECK(revision_prompts[0].find("Step 1: 0.200 <- the first step below 0.50") != std::string::npos);
  CHECK(revision_prompts[0].find("<step>The answer is \\boxed{7}.</step>") != std::string::npos);
  CHECK(r->cost.engine_calls == rv.totals().delivered.engine_calls);
  CHECK(r->cost.prefilled_tokens == rv.totals().delivered.prefilled_tokens);
  CHECK(r->cost.generated_tokens == rv.totals().delivered.generated_tokens);
  CHECK(prm.totals().accepted == r->cost.prm_calls);
}

TEST_CASE("openai::reviser: sequential revisions run end to end over the reviser (history, no feedback) and the served PRM",
          "[adapters][openai][reviser][prm]") {
  std::mutex m;
  std::vector<std::string> revision_prompts;
  // A first attempt is wrong; a revision that sees one earlier attempt is wrong too; one that sees
  // two (history + candidate) is right, so the chain's third attempt answers 42.
  reckon::test::openai_fixture_server policy([&](const json& req, int, httplib::Response& res) {
    const std::string prompt = req.at("prompt").get<std::string>();
    const auto n = req.at("n").get<std::size_t>();
    const bool revision = prompt.find("Previous reasoning:") != std::string::npos;
    const bool seen_two = prompt.find("Attempt 1:\n") != std::string::npos;
    if (revision) {
      std::lock_guard lock(m);
      revision_prompts.push_back(prompt);
    }
    const std::string text = seen_two ? "Step 1: v=3.\n\nStep 2: v=6.\n\nThe final answer is: \\boxed{42}"
                                      : "Step 1: v=1.\n\nStep 2: v=4.\n\nThe answer is \\boxed{7}.";
    res.status = 200;
    res.set_content(completions_body(std::vector<std::string>(n, text), (prompt.size() + 1) / 2).dump(), "application/json");
  });
  prism_prm_server scoring;
  oa::reviser rv(reviser_client(policy.url()));
  oa::served_prm prm(reviser_client(scoring.url()));
  reckon::sequential_revisions_params sp;
  sp.chains = 2;
  sp.length = 3;
  sp.sampling.max_tokens = 64;
  const reckon::basic_sequential_revisions<reckon::select_hierarchical, reckon::prm_scorer<reckon::reduce_last>,
                                           reckon::canonical_answer_key>
      strategy(sp);
  auto r = strategy.run(rv, prm, rev_question, reckon::budget{}, reckon::random_stream(3, rev_question.id));
  REQUIRE(r);
  CHECK(r->answer == std::optional<std::string>("42"));
  REQUIRE(revision_prompts.size() == 4); // two rounds of two chains
  std::size_t with_history = 0;
  for (const auto& prompt : revision_prompts) {
    CHECK(prompt.find("verification") == std::string::npos); // the paper's reviser gets no critique
    CHECK(prompt.find("The previous reasoning may contain mistakes. Write a corrected solution.") != std::string::npos);
    if (prompt.find("Earlier attempts, oldest first:\nAttempt 1:\nStep 1: v=1.\n\nStep 2: v=4.\n\nThe answer is \\boxed{7}.\n\n") !=
        std::string::npos)
      ++with_history;
  }
  CHECK(with_history == 2);
  CHECK(r->cost.engine_calls == rv.totals().delivered.engine_calls);
  CHECK(r->cost.generated_tokens == rv.totals().delivered.generated_tokens);
}

#endif // RECKON_TEST_OPENAI
