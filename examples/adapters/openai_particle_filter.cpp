// SPDX-License-Identifier: Apache-2.0
// Particle filtering against live OpenAI-compatible servers: a policy stepping over /v1/completions, a judge PRM.
//
// usage: openai_particle_filter --url URL [--judge-url URL] [--model NAME] [--judge-model NAME]
//                               --prompt TEXT [--n N] [--steps S] [--step-tokens T] [--np SLOTS]
//
// reckon::particle_filter runs over reckon::openai::stepping_model (each particle is client state;
// each step is one /v1/completions request per particle, stop = "\n\n") and scores every step with
// reckon::openai::judge (a Yes/No question per step, P(yes) / (P(yes) + P(no)) from the top
// logprobs) served by the same or another server. It prints the answer, the ledger, and the prefix
// cache's saving as the policy server measured it. OPENAI_API_KEY, when set, is sent to both
// servers (https URLs work where cpp-httplib has TLS) and is never printed.
//
// On a random-weight test model (../shared/models/tiny-llama-random.gguf) the judge's scores are
// noise: that run shows the plumbing and the costs, not the search's accuracy.

#include <reckon/adapters/openai_judge.hpp>
#include <reckon/adapters/openai_stepping.hpp>
#include <reckon/reckon.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  reckon::openai::client_params policy;
  policy.url.clear();
  std::string judge_url, judge_model, prompt;
  reckon::particle_filter_params params;
  params.n = 8;
  params.max_steps = 8;
  params.stepping.max_step_tokens = 128;
  params.stepping.temperature = 0.8f;
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
  }
  if (policy.url.empty() || prompt.empty() || params.n == 0) {
    fmt::print(stderr,
               "usage: {} --url URL [--judge-url URL] [--model NAME] [--judge-model NAME] --prompt TEXT [--n N] "
               "[--steps S] [--step-tokens T] [--np SLOTS]\n",
               argv[0]);
    return 2;
  }
  if (const char* key = std::getenv("OPENAI_API_KEY")) policy.api_key = key;
  reckon::openai::client_params judging = policy;
  if (!judge_url.empty()) judging.url = judge_url;
  if (!judge_model.empty()) judging.model = judge_model;

  try {
    reckon::openai::stepping_model model(policy);
    reckon::openai::judge prm(judging);
    const reckon::problem problem{.id = reckon::stable_id(prompt), .prompt = prompt};
    const reckon::random_stream stream(reckon::stream_key{.seed = 7, .problem = problem.id});
    const auto r = reckon::particle_filter(params).run(model, prm, problem, reckon::budget{}, stream);
    if (!r) return fmt::print(stderr, "run failed ({}): {}\n", reckon::to_string(r.error().code), r.error().message), 1;
    fmt::print("answer: {} (confidence {:.2f}, {} particles)\nledger: {}\n", r->answer.value_or("(no answer)"),
               r->confidence, r->samples, r->cost);
    const auto t = model.totals();
    const double saving = t.prompt_tokens == 0 ? 0.0
                                               : 1.0 - static_cast<double>(t.delivered.prefilled_tokens) /
                                                           static_cast<double>(t.prompt_tokens);
    fmt::print("policy: {} requests ({} retries), {} prompt tokens sent, {} prefilled: the server's prefix cache "
               "saved {:.1f}%\n",
               t.attempts, t.retries, t.prompt_tokens, t.delivered.prefilled_tokens, 100.0 * saving);
    const auto j = prm.totals();
    fmt::print("judge: {} prompts judged, {} from the cache, {} with neither Yes nor No in the top-k; {} prompt "
               "tokens prefilled\n",
               prm.judged().judged, prm.judged().cached, prm.judged().unjudged, j.delivered.prefilled_tokens);
    return 0;
  } catch (const reckon::exception& e) { // bad client parameters (e.g. https without TLS)
    fmt::print(stderr, "{}\n", e.what());
    return 2;
  }
}
