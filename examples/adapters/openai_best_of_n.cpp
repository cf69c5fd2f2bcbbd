// SPDX-License-Identifier: Apache-2.0
// Self-consistency (majority vote over n samples) against a live OpenAI-compatible server.
//
// usage: openai_best_of_n --url URL [--model NAME] [--chat] --prompt TEXT --n N [--max-tokens M]
//                         [--esc] [--json]
//
// The library's strategy runs over reckon::openai's model as over any sampling_model: one
// sample() call for n completions (split into requests the server accepts, retried on 429/5xx),
// each answer extracted and canonicalised, then the vote; --esc stops at the first unanimous window
// of 5. The vote is the majority, not reckon::best_of_n: that one ranks samples by a reward model,
// which a plain completions server does not offer. The file keeps its name for the build target.

#include <reckon/adapters/openai.hpp>
#include <reckon/reckon.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

template <class Strategy>
int run(const Strategy& strategy, reckon::openai::model& model, const std::string& prompt, bool json) {
  const reckon::problem problem{.id = reckon::stable_id(prompt), .prompt = prompt};
  const reckon::random_stream stream(reckon::stream_key{.seed = 7, .problem = problem.id});
  const auto r = strategy.run(model, problem, reckon::budget{}, stream);
  if (!r) return fmt::print(stderr, "run failed ({}): {}\n", reckon::to_string(r.error().code), r.error().message), 1;
  const std::string answer = r->answer.value_or("(no answer)");
  if (json) {
    nlohmann::json votes = nlohmann::json::object();
    for (const auto& a : r->tally.answers) votes[a.answer] = a.count;
    const nlohmann::json out{{"answer", answer},        {"confidence", r->confidence},
                             {"samples", r->samples},   {"votes", votes},
                             {"abstentions", r->tally.abstentions},
                             {"ledger", nlohmann::json::parse(fmt::format("{:j}", r->cost))}};
    fmt::print("{}\n", out.dump());
    return 0;
  }
  for (const auto& e : r->trace) fmt::print("round {}: {}\n", e.round, e.what);
  for (const auto& a : r->tally.answers) fmt::print("  {:>4} votes  {}\n", a.count, a.answer);
  fmt::print("answer: {} (share {:.2f} of {} samples, {} abstentions)\nledger: {}\n", answer, r->confidence,
             r->samples, r->tally.abstentions, r->cost);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  reckon::openai::client_params cp;
  cp.url.clear();
  std::string prompt;
  std::uint32_t n = 0;
  std::uint32_t max_tokens = 64;
  bool json = false, esc = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : "";
    if (flag == "--json") json = true;
    else if (flag == "--esc") esc = true;
    else if (flag == "--chat") cp.endpoint = reckon::openai::api::chat_completions;
    else if (flag == "--url") cp.url = value, ++i;
    else if (flag == "--model") cp.model = value, ++i;
    else if (flag == "--prompt") prompt = value, ++i;
    else if (flag == "--n") n = static_cast<std::uint32_t>(std::strtoul(value, nullptr, 10)), ++i;
    else if (flag == "--max-tokens") max_tokens = static_cast<std::uint32_t>(std::strtoul(value, nullptr, 10)), ++i;
  }
  if (cp.url.empty() || prompt.empty() || n == 0) {
    fmt::print(stderr, "usage: {} --url URL [--model NAME] [--chat] --prompt TEXT --n N [--max-tokens M] [--esc] [--json]\n",
               argv[0]);
    return 2;
  }
  cp.max_n_per_request = 4; // llama-server accepts n up to its slot count (-np)
  reckon::openai::model model(cp);
  reckon::self_consistency_params params{.n = n};
  params.sampling.max_tokens = max_tokens;
  params.sampling.temperature = 0.8f;
  if (esc) return run(reckon::esc_self_consistency(params), model, prompt, json);
  return run(reckon::self_consistency(params), model, prompt, json);
}
