// SPDX-License-Identifier: Apache-2.0
// Self-consistency (best-of-n by majority vote) against a live OpenAI-compatible server.
//
// usage: openai_best_of_n --url URL [--model NAME] [--chat] --prompt TEXT --n N [--max-tokens M] [--json]
//
// The best-of-n strategy is a later issue; this is the simplest loop on the building blocks that
// exist: one sample() call for n completions (split into requests the server accepts, retried on
// 429/5xx), each completion's answer extracted and canonicalised, a plurality vote, the ledger.

#include <reckon/adapters/openai.hpp>
#include <reckon/aggregate/vote.hpp>
#include <reckon/answer/pipeline.hpp>
#include <reckon/budget/metered.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  reckon::openai::client_params cp;
  cp.url.clear();
  std::string prompt;
  std::uint32_t n = 0;
  std::uint32_t max_tokens = 64;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : "";
    if (flag == "--json") json = true;
    else if (flag == "--chat") cp.endpoint = reckon::openai::api::chat_completions;
    else if (flag == "--url") cp.url = value, ++i;
    else if (flag == "--model") cp.model = value, ++i;
    else if (flag == "--prompt") prompt = value, ++i;
    else if (flag == "--n") n = static_cast<std::uint32_t>(std::strtoul(value, nullptr, 10)), ++i;
    else if (flag == "--max-tokens") max_tokens = static_cast<std::uint32_t>(std::strtoul(value, nullptr, 10)), ++i;
  }
  if (cp.url.empty() || prompt.empty() || n == 0) {
    fmt::print(stderr, "usage: {} --url URL [--model NAME] [--chat] --prompt TEXT --n N [--max-tokens M] [--json]\n",
               argv[0]);
    return 2;
  }
  cp.max_n_per_request = 4; // llama-server accepts n up to its slot count (-np)
  reckon::metered model{reckon::openai::model(cp)};
  reckon::sampling_params sp;
  sp.max_tokens = max_tokens;
  sp.temperature = 0.8f;
  sp.seed = 7;
  sp.stats.logprobs = true;
  auto r = model.sample({.id = reckon::stable_id(prompt), .prompt = prompt}, sp, n);
  if (!r) return fmt::print(stderr, "sample failed ({}): {}\n", reckon::to_string(r.error().code), r.error().message), 1;

  std::vector<std::optional<std::string>> answers;
  for (const auto& c : r->completions) answers.push_back(reckon::extract_answer_key(c.text));
  const auto tally = reckon::plurality_vote(std::span<const std::optional<std::string>>(answers));
  const std::string winner = tally.winner().value_or("(no answer)");
  if (json) {
    const nlohmann::json out{{"answer", winner}, {"votes", tally.votes}, {"abstentions", tally.abstentions},
                             {"ledger", nlohmann::json::parse(fmt::format("{:j}", model.ledger()))}};
    fmt::print("{}\n", out.dump());
    return 0;
  }
  for (std::size_t i = 0; i < r->completions.size(); ++i)
    fmt::print("[{}] {} tokens, answer {}: {:?}\n", i, r->completions[i].tokens, answers[i].value_or("-"),
               r->completions[i].text.substr(0, 60));
  fmt::print("answer: {} ({} votes, {} abstentions)\nledger: {}\n", winner, tally.votes, tally.abstentions, model.ledger());
  return 0;
}
