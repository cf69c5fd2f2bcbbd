// SPDX-License-Identifier: Apache-2.0
// reckon::prompted_reviser<M>: the revision prompt it samples, seeds, order, usage, its error paths,
// its template checks, PRISM and sequential revisions end to end over a scripted sampler, and (where
// llama.cpp and a GGUF file exist) revisions by llama_cpp::engine in process.

#include <reckon/adapters/prompted_reviser.hpp>
#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/prism.hpp>
#include <reckon/strategy/sequential_revisions.hpp>
#include <reckon/testing/synthetic_model.hpp>

#if defined(RECKON_TEST_LLAMA_CPP)
#include "llama_test_model.hpp"
#endif
#include <support/catch.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using reckon::errc;

// A sampler that records every call and answers by a script over the prompt it was given.
struct pr_scripted_sampler {
  using reckon_model_concept = reckon::sampling_model_tag;
  struct call {
    reckon::problem asked;
    reckon::sampling_params params;
    std::uint32_t n = 0;
  };
  std::vector<call> calls;
  std::function<std::string(const std::string&)> answer = [](const std::string& prompt) {
    // The last step it was shown, so the order can be checked.
    const auto at = prompt.rfind("<step>");
    return at == std::string::npos ? std::string("sampled") : "revised " + prompt.substr(at + 6, prompt.find("</step>", at) - at - 6);
  };
  std::optional<std::size_t> fail_at, throw_at, twice_at; // the call (0-based) that fails / throws / answers twice

  reckon::result<reckon::sample_batch> sample(const reckon::problem& p, const reckon::sampling_params& sp, std::uint32_t n) {
    const std::size_t k = calls.size();
    calls.push_back({p, sp, n});
    if (throw_at == k) throw std::runtime_error("scripted sampler exploded");
    if (fail_at == k) return reckon::fail(errc::no_capacity, "scripted sampler: no free slot");
    reckon::sample_batch out;
    const std::uint32_t count = twice_at == k ? n + 1 : n;
    for (std::uint32_t i = 0; i < count; ++i) {
      reckon::completion c;
      c.text = answer(p.prompt);
      c.tokens = static_cast<std::uint32_t>((c.text.size() + 1) / 2);
      c.source = 100 + i; // the reviser must renumber
      out.usage.generated_tokens += c.tokens;
      out.completions.push_back(std::move(c));
    }
    out.usage.prefilled_tokens = (p.prompt.size() + 1) / 2;
    out.usage.engine_calls = 1;
    return out;
  }
};

// The same, declaring token statistics, with traits to forward.
struct pr_logprob_sampler : pr_scripted_sampler {
  using reckon_model_concept = reckon::capabilities<reckon::sampling_model_tag, reckon::logprob_model_tag>;
  static constexpr std::uint32_t logprob_top_k = 7;
  static constexpr bool full_logits = true;
  static constexpr double cost_per_token = 2.5;
};

static_assert(reckon::reviser<reckon::prompted_reviser<pr_scripted_sampler>>);
static_assert(reckon::sampling_model<reckon::prompted_reviser<pr_scripted_sampler>>);
static_assert(!reckon::logprob_model<reckon::prompted_reviser<pr_scripted_sampler>>);
static_assert(reckon::model_traits<reckon::prompted_reviser<pr_scripted_sampler>>::logprob_top_k == 0);
static_assert(reckon::reviser<reckon::prompted_reviser<pr_scripted_sampler&>>);
static_assert(reckon::logprob_model<reckon::prompted_reviser<pr_logprob_sampler>>);
static_assert(reckon::model_traits<reckon::prompted_reviser<pr_logprob_sampler>>::logprob_top_k == 7);
static_assert(reckon::model_traits<reckon::prompted_reviser<pr_logprob_sampler>>::full_logits);
static_assert(reckon::model_traits<reckon::prompted_reviser<pr_logprob_sampler>>::cost_per_token == 2.5);
// The synthetic model (a stepping model too) becomes a prompted reviser that samples, not one that steps.
static_assert(reckon::reviser<reckon::prompted_reviser<reckon::testing::synthetic_model>>);
static_assert(!reckon::stepping_model<reckon::prompted_reviser<reckon::testing::synthetic_model>>);

const reckon::problem pr_question{.id = 9, .prompt = "What is 6 * 7?"};

reckon::sampling_params pr_sampling() {
  reckon::sampling_params sp;
  sp.max_tokens = 64;
  sp.temperature = 0.7f;
  sp.stop = {"\n\n\n"};
  sp.seed = 99; // not used by revise: each request has its own
  return sp;
}

} // namespace

TEST_CASE("prompted_reviser: the model samples the exact prompt for a candidate with feedback, history and new_approach",
          "[adapters][prompted_reviser]") {
  reckon::prompted_reviser<pr_scripted_sampler> rv(pr_scripted_sampler{});
  const std::vector<std::string> steps = {"Step 1: v=3.\n\n", "  Step 2: v=5.\n\n", "The answer is \\boxed{7}."};
  const std::vector<double> scores = {0.9, 0.25, 0.1};
  const std::vector<std::string> first = {"An older attempt.\n\n", "The answer is \\boxed{8}."};
  const std::vector<std::string> second = {"A newer attempt."};
  const std::vector<reckon::solution_view> history = {{first, true, 0}, {second, true, 1}};
  std::vector<reckon::revision_request> q(1);
  q[0].candidate = {steps, true, 2};
  q[0].feedback = scores;
  q[0].history = history;
  q[0].new_approach = true;
  q[0].seed = 31;
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
  CHECK(rv.render(pr_question, q[0]) == expected);
  auto r = rv.revise(pr_question, q, pr_sampling());
  REQUIRE(r);
  REQUIRE(rv.model().calls.size() == 1);
  const auto& call = rv.model().calls[0];
  CHECK(call.asked.prompt == expected);
  CHECK(call.asked.id == pr_question.id); // the problem's id keys the model's streams, as for any sample
  CHECK(call.n == 1);
  CHECK(call.params.seed == 31);
  CHECK(call.params.max_tokens == 64);
  CHECK(call.params.temperature == 0.7f);
  CHECK(call.params.stop == std::vector<std::string>{"\n\n\n"});
  CHECK(r->completions.at(0).text == "revised The answer is \\boxed{7}.");
}

TEST_CASE("prompted_reviser: one n = 1 sample per request with its seed, in request order, usage summed",
          "[adapters][prompted_reviser]") {
  const std::vector<std::vector<std::string>> all = {{"zero"}, {"one"}, {"two"}, {"three"}, {"four"}};
  std::vector<reckon::revision_request> requests(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    requests[i].candidate = {all[i], false, i};
    requests[i].seed = 1000 + 7 * i;
  }
  reckon::prompted_reviser deduced(pr_scripted_sampler{}); // CTAD holds the model by value
  static_assert(std::is_same_v<decltype(deduced), reckon::prompted_reviser<pr_scripted_sampler>>);
  pr_scripted_sampler held;
  reckon::prompted_reviser<pr_scripted_sampler&> rv(held); // by reference: the caller keeps the model
  auto r = rv.revise(pr_question, requests, pr_sampling());
  REQUIRE(r);
  REQUIRE(r->completions.size() == 5);
  REQUIRE(held.calls.size() == 5);
  reckon::usage expected;
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(r->completions[i].text == "revised " + all[i][0]);
    CHECK(r->completions[i].source == i);
    CHECK(held.calls[i].n == 1);
    CHECK(held.calls[i].params.seed == 1000 + 7 * i);
    CHECK(held.calls[i].asked.prompt.find("<step>" + all[i][0] + "</step>") != std::string::npos);
    expected.prefilled_tokens += (held.calls[i].asked.prompt.size() + 1) / 2;
    expected.generated_tokens += (r->completions[i].text.size() + 1) / 2;
  }
  expected.engine_calls = 5;
  CHECK(r->usage == expected);
  CHECK(rv.delivered() == expected);

  // sample() is the model's: the problem as it is, n and seed as given.
  auto s = rv.sample(pr_question, pr_sampling(), 3);
  REQUIRE(s);
  CHECK(s->completions.size() == 3);
  CHECK(held.calls.back().asked == pr_question);
  CHECK(held.calls.back().params.seed == 99);
  CHECK(rv.delivered() == expected + s->usage);

  auto none = rv.revise(pr_question, {}, pr_sampling());
  REQUIRE(none);
  CHECK(none->completions.empty());
  CHECK(none->usage == reckon::usage{});
  CHECK(held.calls.size() == 6);
}

TEST_CASE("prompted_reviser: a failing, throwing or miscounting sample is an error naming the request; later requests are not sampled",
          "[adapters][prompted_reviser]") {
  const std::vector<std::vector<std::string>> all = {{"zero"}, {"one"}, {"two"}, {"three"}};
  std::vector<reckon::revision_request> requests(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) requests[i].candidate = {all[i], false, i};
  reckon::prompted_reviser<pr_scripted_sampler> rv(pr_scripted_sampler{});

  SECTION("a failure keeps its code") {
    rv.model().fail_at = 2;
    auto r = rv.revise(pr_question, requests, pr_sampling());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::no_capacity);
    CHECK(r.error().message == "prompted_reviser: request 2: scripted sampler: no free slot");
    CHECK(rv.model().calls.size() == 3);
    CHECK(rv.delivered().engine_calls == 2); // what the first two cost is not lost
  }
  SECTION("a throw is engine_failure") {
    rv.model().throw_at = 1;
    reckon::result<reckon::sample_batch> r = reckon::fail(errc::invalid_argument, "not run");
    REQUIRE_NOTHROW(r = rv.revise(pr_question, requests, pr_sampling()));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::engine_failure);
    CHECK(r.error().message == "prompted_reviser: request 1: the model threw: scripted sampler exploded");
    CHECK(rv.model().calls.size() == 2);
    CHECK(rv.delivered().engine_calls == 1);
  }
  SECTION("two completions for one request is engine_failure, and its cost is delivered") {
    rv.model().twice_at = 0;
    auto r = rv.revise(pr_question, requests, pr_sampling());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::engine_failure);
    CHECK(r.error().message == "prompted_reviser: request 0 came back with 2 completions, not 1");
    CHECK(rv.model().calls.size() == 1);
    CHECK(rv.delivered().engine_calls == 1);
  }
  SECTION("misuse is refused before any sample") {
    auto bad = requests;
    const std::vector<double> two = {0.5, 0.5};
    bad[1].feedback = two;
    auto r = rv.revise(pr_question, bad, pr_sampling());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(r.error().message == "prompted_reviser: request 1 has 2 feedback scores for 1 steps");
    const std::vector<double> nan = {std::nan("")};
    bad[1].feedback = nan;
    r = rv.revise(pr_question, bad, pr_sampling());
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("prompted_reviser: request 1 has a feedback score nan outside [0, 1]") == 0);
    auto zero = pr_sampling();
    zero.max_tokens = 0;
    r = rv.revise(pr_question, requests, zero);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(rv.model().calls.empty());
  }
}

TEST_CASE("prompted_reviser: placeholders, literal braces and the threshold are parameters; bad templates are refused",
          "[adapters][prompted_reviser]") {
  reckon::revision_prompt_params rp;
  rp.prompt_template = "{{literal}} [{instruction}] <{candidate}> {problem}{feedback}{history} \\boxed{{}} { x }";
  rp.threshold = 0.95;
  rp.fix_instruction = "fix {step}";
  rp.format_instruction.clear();
  rp.feedback_heading = "F:";
  reckon::prompted_reviser<pr_scripted_sampler> rv(pr_scripted_sampler{}, rp);
  const std::vector<std::string> steps = {"a", "b"};
  const std::vector<double> scores = {0.96, 0.94};
  std::vector<reckon::revision_request> q(1);
  q[0].candidate = {steps, false, 0};
  q[0].feedback = scores;
  REQUIRE(rv.revise(pr_question, q, pr_sampling()));
  CHECK(rv.model().calls.at(0).asked.prompt ==
        "{literal} [fix 2] <<step>a</step>\n<step>b</step>> What is 6 * 7?F:Step 1: 0.960\nStep 2: 0.940 <- the first step below 0.95\n\n"
        " \\boxed{} { x }");

  auto refused = [](const std::function<void(reckon::revision_prompt_params&)>& edit, const std::string& says) {
    reckon::revision_prompt_params p;
    edit(p);
    try {
      reckon::prompted_reviser<pr_scripted_sampler> r(pr_scripted_sampler{}, p);
      FAIL("accepted");
    } catch (const reckon::exception& e) {
      CHECK(e.error().code == errc::invalid_argument);
      CHECK(e.error().message.rfind(says, 0) == 0);
    }
  };
  refused([](auto& p) { p.prompt_template = "{problem} {candidate} {feedbak}"; }, "revision_prompt_params.prompt_template: unknown placeholder {feedbak}");
  refused([](auto& p) { p.prompt_template = "{problem} {Candidate}"; }, "revision_prompt_params.prompt_template: unknown placeholder {Candidate}");
  refused([](auto& p) { p.prompt_template = "{candidate} {problem"; }, "revision_prompt_params.prompt_template: unterminated placeholder at offset 12");
  refused([](auto& p) { p.prompt_template = "{problem} {{candidate}}"; }, "revision_prompt_params.prompt_template must contain {candidate}");
  refused([](auto& p) { p.threshold = 1.5; }, "revision_prompt_params.threshold must be in [0, 1]");
  refused([](auto& p) { p.threshold = std::nan(""); }, "revision_prompt_params.threshold must be in [0, 1]");
}

namespace {

// A PRM in process: a step with a digit that is a multiple of 3 is good, the answer 42 is right.
struct pr_step_prm {
  using reckon_model_concept = reckon::process_reward_model_tag;
  reckon::result<std::vector<std::vector<double>>> score_steps(const reckon::problem&, std::span<const reckon::solution_view> cands) {
    std::vector<std::vector<double>> out;
    for (const auto& c : cands) {
      std::vector<double> row;
      for (const auto& s : c.steps) {
        double p = 0.5;
        if (s.find("\\boxed{42}") != std::string::npos) p = 0.95;
        else if (s.find("\\boxed{") != std::string::npos) p = 0.05;
        else if (const auto v = s.rfind("v="); v != std::string::npos && v + 2 < s.size()) p = (s[v + 2] - '0') % 3 == 0 ? 0.9 : 0.2;
        row.push_back(p);
      }
      out.push_back(std::move(row));
    }
    return out;
  }
};

const std::string pr_wrong = "Step 1: v=1.\n\nStep 2: v=4.\n\nThe answer is \\boxed{7}.";
const std::string pr_right = "Step 1: v=3.\n\nStep 2: v=6.\n\nThe final answer is: \\boxed{42}";

} // namespace

TEST_CASE("prompted_reviser: PRISM runs end to end over a prompted reviser whose model is right only when shown the PRM's feedback",
          "[adapters][prompted_reviser][prism]") {
  pr_scripted_sampler policy;
  // Right only where the prompt carries the PRM's verdict on the first step: the feedback must reach the model.
  policy.answer = [](const std::string& prompt) {
    return prompt.find("Step-by-step verification") != std::string::npos &&
                   prompt.find("Step 1: 0.200 <- the first step below 0.50") != std::string::npos
               ? pr_right
               : pr_wrong;
  };
  reckon::prompted_reviser<pr_scripted_sampler> rv(std::move(policy));
  pr_step_prm prm;
  reckon::prism_params pp;
  pp.n = 4;
  pp.rounds = 1;
  pp.sampling.max_tokens = 64;
  const reckon::prism strategy(pp);
  auto r = strategy.run(rv, prm, pr_question, reckon::budget{}, reckon::random_stream(5, pr_question.id));
  REQUIRE(r);
  CHECK(r->answer == std::optional<std::string>("42"));
  std::size_t revisions = 0;
  for (const auto& c : rv.model().calls) {
    if (c.asked.prompt.find("Previous reasoning:") == std::string::npos) continue;
    ++revisions;
    CHECK(c.n == 1);
    CHECK(c.asked.prompt.find("<step>The answer is \\boxed{7}.</step>") != std::string::npos);
  }
  CHECK(revisions >= 1);
  CHECK(r->cost.engine_calls == rv.delivered().engine_calls);
  CHECK(r->cost.prefilled_tokens == rv.delivered().prefilled_tokens);
  CHECK(r->cost.generated_tokens == rv.delivered().generated_tokens);

  // The control: a model that ignores the prompt never reaches 42, so the answer above came through the feedback.
  pr_scripted_sampler deaf;
  deaf.answer = [](const std::string&) { return pr_wrong; };
  reckon::prompted_reviser<pr_scripted_sampler> deaf_rv(std::move(deaf));
  auto control = strategy.run(deaf_rv, prm, pr_question, reckon::budget{}, reckon::random_stream(5, pr_question.id));
  REQUIRE(control);
  CHECK(control->answer == std::optional<std::string>("7"));
}

TEST_CASE("prompted_reviser: sequential revisions run end to end over a prompted reviser (history, no feedback)",
          "[adapters][prompted_reviser][sequential_revisions]") {
  pr_scripted_sampler policy;
  // Right only where the prompt shows an earlier attempt besides the candidate: the chain's third attempt.
  policy.answer = [](const std::string& prompt) { return prompt.find("Attempt 1:\n") != std::string::npos ? pr_right : pr_wrong; };
  reckon::prompted_reviser<pr_scripted_sampler> rv(std::move(policy));
  pr_step_prm prm;
  reckon::sequential_revisions_params sp;
  sp.chains = 2;
  sp.length = 3;
  sp.sampling.max_tokens = 64;
  const reckon::basic_sequential_revisions<reckon::select_hierarchical, reckon::prm_scorer<reckon::reduce_last>,
                                           reckon::canonical_answer_key>
      strategy(sp);
  auto r = strategy.run(rv, prm, pr_question, reckon::budget{}, reckon::random_stream(3, pr_question.id));
  REQUIRE(r);
  CHECK(r->answer == std::optional<std::string>("42"));
  std::vector<std::string> revision_prompts;
  for (const auto& c : rv.model().calls)
    if (c.asked.prompt.find("Previous reasoning:") != std::string::npos) revision_prompts.push_back(c.asked.prompt);
  REQUIRE(revision_prompts.size() == 4); // two rounds of two chains
  std::size_t with_history = 0;
  for (const auto& prompt : revision_prompts) {
    CHECK(prompt.find("verification") == std::string::npos); // the paper's reviser gets no critique
    CHECK(prompt.find("The previous reasoning may contain mistakes. Write a corrected solution.") != std::string::npos);
    if (prompt.find("Earlier attempts, oldest first:\nAttempt 1:\n" + pr_wrong + "\n\n") != std::string::npos) ++with_history;
  }
  CHECK(with_history == 2);
  CHECK(r->cost.engine_calls == rv.delivered().engine_calls);
  CHECK(r->cost.generated_tokens == rv.delivered().generated_tokens);
}

#if defined(RECKON_TEST_LLAMA_CPP)

namespace {

namespace lc = reckon::llama_cpp;

static_assert(reckon::reviser<reckon::prompted_reviser<lc::engine>>);
static_assert(reckon::logprob_model<reckon::prompted_reviser<lc::engine>>);
static_assert(reckon::model_traits<reckon::prompted_reviser<lc::engine>>::full_logits);

} // namespace

TEST_CASE("prompted_reviser (real llama.cpp): the engine in process revises two requests, seeds repeat, usage adds up",
          "[adapters][prompted_reviser][llama_cpp_real]") {
  if (reckon::test::llama_test_model() == nullptr) {
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped");
    return;
  }
  lc::context_params cp;
  cp.n_ctx = 1024;
  cp.n_seq_max = 2;
  cp.n_threads = 1;
  reckon::prompted_reviser<lc::engine> rv(lc::engine(lc::context_backend(reckon::test::llama_test_model()->get(), cp)));
  const std::vector<std::string> first = {"Step 1: 6 * 7 = 41.\n\n", "The answer is \\boxed{41}."};
  const std::vector<std::string> second = {"Step 1: 6 + 7 = 13.\n\n", "The answer is \\boxed{13}."};
  const std::vector<double> scores = {0.2, 0.1};
  std::vector<reckon::revision_request> requests(2);
  requests[0].candidate = {first, true, 0};
  requests[0].feedback = scores;
  requests[0].seed = 11;
  requests[1].candidate = {second, true, 1};
  requests[1].seed = 12;
  reckon::sampling_params sp;
  sp.max_tokens = 12;
  sp.temperature = 1.0f;
  auto a = rv.revise(pr_question, requests, sp);
  REQUIRE(a);
  REQUIRE(a->completions.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(a->completions[i].source == i);
    CHECK(a->completions[i].tokens > 0);
    CHECK(a->completions[i].tokens <= 12);
  }
  CHECK(a->usage.engine_calls >= 2);
  CHECK(a->usage.generated_tokens == a->completions[0].tokens + a->completions[1].tokens);
  // Each revision prefills at least its own prompt (the tiny model's tokens are bytes-ish; 20 is far below either).
  CHECK(a->usage.prefilled_tokens > 40);
  CHECK(rv.model().live() == 0); // every sequence released
  // The same seeds sample the same texts; the engine's own counters saw what the usage says.
  auto b = rv.revise(pr_question, requests, sp);
  REQUIRE(b);
  CHECK(b->completions[0].text == a->completions[0].text);
  CHECK(b->completions[1].text == a->completions[1].text);
  CHECK(b->usage == a->usage);
  CHECK(rv.delivered() == a->usage + b->usage);
  // Another seed for the first request changes what it samples (noise text, but seeded noise).
  requests[0].seed = 12345;
  auto c = rv.revise(pr_question, requests, sp);
  REQUIRE(c);
  CHECK(c->completions[0].text != a->completions[0].text);
  CHECK(c->completions[1].text == a->completions[1].text);
}

#endif // RECKON_TEST_LLAMA_CPP
