// SPDX-License-Identifier: Apache-2.0
// Particle filtering against live OpenAI-compatible servers: a policy stepping over /v1/completions, a judge PRM.
//
// usage: openai_particle_filter --url URL [--judge-url URL] [--model NAME] [--judge-model NAME]
//                               --prompt TEXT [--n N] [--steps S] [--step-tokens T] [--np SLOTS]
//                               [--seed S] [--max-reseeds R]
//
// reckon::particle_filter runs over reckon::openai::stepping_model (each particle is client state;
// each step is one /v1/completions request per particle, stop = "\n\n") and scores every step with
// reckon::openai::judge (a Yes/No question per step, P(yes) / (P(yes) + P(no)) from the top
// logprobs) served by the same or another server. It prints the answer, the ledger, and the prefix
// cache's saving as the policy server measured it. OPENAI_API_KEY, when set, is sent to both
// servers (https URLs work where cpp-httplib has TLS) and is never printed.
//
// On a random-weight test model (../shared/models/tiny-llama-random.gguf) the judge's scores are
// noise: that run shows the plumbing and the costs, not the search's accuracy. That model often
// emits a lone byte-fallback token (e.g. <0xF0>) followed by a whole token, and llama-server
// answers a completion that is not valid UTF-8 with HTTP 500 "does not match the expected
// Content-only format" (deterministic for the prompt and seed); measured at 1 in 20 seeds for
// 8-token steps, 3 in 20 for 32, 9 in 20 for 128. So the example re-requests such a step with up
// to --max-reseeds derived seeds (default 8, not the library's 2): at 9 in 20, 2 reseeds leave a
// step of 8 particles failing about half the time, 8 reseeds under 1 in 100.
//
// Paths that outgrow llama-server's context per slot (--ctx-size / --parallel) end there (finish
// length), counted as "ended by the context"; the judge's prompt holds the whole path plus its
// question, so give the judge's server a larger context than the policy's.

#include <reckon/adapters/openai_judge.hpp>
#include <reckon/adapters/openai_stepping.hpp>
#include <reckon/reckon.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

namespace {

// The judge, timed, so that the run's time splits between the two servers.
struct timed_judge {
  using reckon_model_concept = reckon::capabilities<reckon::process_reward_model_tag>;
  reckon::openai::judge& judge;
  double seconds = 0.0;

  reckon::result<std::vector<std::vector<double>>> score_steps(const reckon::problem& p,
                                                               std::span<const reckon::solution_view> candidates) {
    const auto started = std::chrono::steady_clock::now();
    auto r = judge.score_steps(p, candidates);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return r;
  }
};

} // namespace

int main(int argc, char** argv) {
  reckon::openai::client_params policy;
  policy.url.clear();
  std::string judge_url, judge_model, prompt;
  reckon::particle_filter_params params;
  params.n = 8;
  params.max_steps = 8;
  params.stepping.max_step_tokens = 128;
  params.stepping.temperature = 0.8f;
  policy.max_reseeds = 8; // see the header: the test model's invalid UTF-8
  std::uint64_t seed = 7;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : "";
    auto count = [&] { return static_cast<std::uint32_t>(std::strtoul(value, nullptr, 10)); };
    if (flag == "--url") policy.url = value, ++i;
    else if (flag == "--judge-url") judge_url = value, ++i;
    else if (flag == "--model") policy.model = value, ++i;
    else if (flag == "--judge-model") judge_model = value, ++i;
    else if (flag == "--prompt") prompt = value, ++i;
    else if (flag == "--n") params.n = count(), ++i;
    else if (flag == "--steps") params.max_steps = count(), ++i;
    else if (flag == "--step-tokens") params.stepping.max_step_tokens = count(), ++i;
    else if (flag == "--np") policy.max_in_flight = count(), ++i; // llama-server's slots (-np)
    else if (flag == "--seed") seed = std::strtoull(value, nullptr, 10), ++i;
    else if (flag == "--max-reseeds") policy.max_reseeds = count(), ++i;
  }
  if (policy.url.empty() || prompt.empty() || params.n == 0) {
    fmt::print(stderr,
               "usage: {} --url URL [--judge-url URL] [--model NAME] [--judge-model NAME] --prompt TEXT [--n N] "
               "[--steps S] [--step-tokens T] [--np SLOTS] [--seed S] [--max-reseeds R]\n",
               argv[0]);
    return 2;
  }
  if (const char* key = std::getenv("OPENAI_API_KEY")) policy.api_key = key;
  reckon::openai::client_params judging = policy;
  if (!judge_url.empty()) judging.url = judge_url;
  if (!judge_model.empty()) judging.model = judge_model;

  try {
    reckon::openai::stepping_model served(policy);
    reckon::metered model{served}; // refers to served; its ledger times the policy's calls alone
    reckon::openai::judge judge(judging);
    timed_judge prm{judge};
    const reckon::problem problem{.id = reckon::stable_id(prompt), .prompt = prompt};
    const reckon::random_stream stream(reckon::stream_key{.seed = seed, .problem = problem.id});
    const auto started = std::chrono::steady_clock::now();
    const auto r = reckon::particle_filter(params).run(model, prm, problem, reckon::budget{}, stream);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!r) return fmt::print(stderr, "run failed ({}): {}\n", reckon::to_string(r.error().code), r.error().message), 1;
    fmt::print("answer: {} (confidence {:.2f}, {} particles)\nledger: {}\n", r->answer.value_or("(no answer)"),
               r->confidence, r->samples, r->cost);
    const double policy_wall = model.ledger().wall_seconds;
    fmt::print("time: {:.2f} s in all; policy server: {:.2f} s; judge server: {:.2f} s; the rest (reckon): {:.3f} s\n",
               total, policy_wall, prm.seconds, total - policy_wall - prm.seconds);
    const auto t = served.totals();
    const double saving = t.prompt_tokens == 0 ? 0.0
                                               : 1.0 - static_cast<double>(t.delivered.prefilled_tokens) /
                                                           static_cast<double>(t.prompt_tokens);
    fmt::print("policy: {} requests ({} retries, {} steps re-seeded after a deterministic 500), {} paths ended by "
               "the server's context; {} prompt tokens sent, {} prefilled: the server's prefix cache saved {:.1f}%\n",
               t.attempts, t.retries, t.reseeded, t.context_full, t.prompt_tokens, t.delivered.prefilled_tokens,
               100.0 * saving);
    const auto j = judge.totals();
    fmt::print("judge: {} requests, {} prompts judged, {} from the cache, {} with neither Yes nor No in the top-k; "
               "{} prompt tokens sent, {} prefilled\n",
               j.attempts, judge.judged().judged, judge.judged().cached, judge.judged().unjudged, j.prompt_tokens,
               j.delivered.prefilled_tokens);
    return 0;
  } catch (const reckon::exception& e) { // bad client parameters (e.g. https without TLS)
    fmt::print(stderr, "{}\n", e.what());
    return 2;
  }
}
