// SPDX-License-Identifier: Apache-2.0
// SCALE against a live OpenAI-compatible server: the model outlines and rates its own steps, then
// steps in System 1 or System 2 by the rating.
//
// usage: openai_scale --url URL --prompt TEXT [--model NAME] [--tau T] [--in-context]
//                     [--step-tokens T] [--deliberate-tokens T] [--outline-tokens T] [--seed S]
//                     [--max-reseeds R]
//
// reckon::scale runs over reckon::openai::stepping_model: rate_plan asks SCALE's outline question
// and rates each outlined step with SCALE's SCORE_INSTRUCTION (64 tokens, the reply's first number
// in [0, 1], retried with derived seeds up to 4 times); --in-context rates each step just before
// it from the text solved so far instead. A System 2 step is sent with the adapter's deliberate
// prompt and up to --deliberate-tokens; a System 1 step up to --step-tokens. It prints the trace
// (each step's rating and mode), the answer and the ledger. On a random-weight model
// (../shared/models/tiny-llama-random.gguf) the outline and the ratings are noise: measured, every
// run ends with rate_plan's error quoting the last reply (4 outline replies, none JSON), and
// rate_next after a deliberate step parsed 0 of 20 seeds in 4 replies each. Keep --outline-tokens
// small there (an outline reply of 1024 tokens took 17 s on 2 shared cores).

#include <reckon/adapters/openai_stepping.hpp>
#include <reckon/reckon.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

template <class Rating>
int run(reckon::openai::stepping_model& served, const reckon::scale_params& params, const reckon::problem& problem,
        std::uint64_t seed) {
  const reckon::random_stream stream(reckon::stream_key{.seed = seed, .problem = problem.id});
  const auto r = reckon::basic_scale<Rating, reckon::canonical_answer_key>(params).run(served, problem, reckon::budget{}, stream);
  const auto t = served.totals();
  fmt::print("server: {} requests ({} accepted, {} retries, {} re-seeded after a deterministic 500)\n", t.attempts,
             t.accepted, t.retries, t.reseeded);
  if (!r) return fmt::print(stderr, "run failed ({}): {}\n", reckon::to_string(r.error().code), r.error().message), 1;
  for (const auto& e : r->trace) fmt::print("  [{}] {}\n", e.round, e.what);
  fmt::print("answer: {}\nledger: {}\n", r->answer.value_or("(no answer)"), r->cost);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  reckon::openai::client_params client;
  client.url.clear();
  client.max_reseeds = 8; // the random test model's invalid UTF-8 (see openai_particle_filter.cpp)
  std::string prompt;
  reckon::openai::rating_params rating;
  reckon::scale_params params;
  params.stepping.max_step_tokens = 64;
  params.deliberate_step_tokens = 256;
  bool in_context = false;
  std::uint64_t seed = 7;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : "";
    auto count = [&] { return static_cast<std::uint32_t>(std::strtoul(value, nullptr, 10)); };
    if (flag == "--url") client.url = value, ++i;
    else if (flag == "--model") client.model = value, ++i;
    else if (flag == "--prompt") prompt = value, ++i;
    else if (flag == "--tau") params.tau = std::strtod(value, nullptr), ++i;
    else if (flag == "--in-context") in_context = true;
    else if (flag == "--step-tokens") params.stepping.max_step_tokens = count(), ++i;
    else if (flag == "--deliberate-tokens") params.deliberate_step_tokens = count(), ++i;
    else if (flag == "--outline-tokens") rating.outline_max_tokens = count(), ++i;
    else if (flag == "--seed") seed = std::strtoull(value, nullptr, 10), ++i;
    else if (flag == "--max-reseeds") client.max_reseeds = count(), ++i;
  }
  if (client.url.empty() || prompt.empty()) {
    fmt::print(stderr, "usage: {} --url URL --prompt TEXT [--model NAME] [--tau T] [--in-context] [--step-tokens T] "
                       "[--deliberate-tokens T] [--outline-tokens T] [--seed S] [--max-reseeds R]\n", argv[0]);
    return 2;
  }
  if (const char* key = std::getenv("OPENAI_API_KEY")) client.api_key = key;
  try {
    reckon::openai::stepping_model served(client, {}, rating);
    const reckon::problem problem{.id = reckon::stable_id(prompt), .prompt = prompt};
    return in_context ? run<reckon::rate_in_context>(served, params, problem, seed)
                      : run<reckon::rate_upfront>(served, params, problem, seed);
  } catch (const reckon::exception& e) { // bad client parameters (e.g. https without TLS)
    fmt::print(stderr, "{}\n", e.what());
    return 2;
  }
}
