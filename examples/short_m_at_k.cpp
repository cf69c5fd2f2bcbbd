// SPDX-License-Identifier: Apache-2.0
// short-1@k and short-3@k vs majority@k: stop the other chains once the first m have finished.
#include <reckon/reckon.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <fmt/format.h>

int main() {
  const auto suite = reckon::testing::make_suite("hard").value();
  // Wrong chains here run 1.3x longer per step after their first error (a stated setting of the
  // synthetic model; its default, 1, gives length no signal and short-m@k no edge).
  reckon::testing::synthetic_params longer_when_wrong;
  longer_when_wrong.error_length_factor = 1.3;
  reckon::testing::synthetic_model model(suite, longer_when_wrong);

  // k = 8 chains on one prompt (prefilled once), one batched extend per step; as soon as m of
  // them have finished, every other chain is released and the m vote (ties: the shortest chain).
  const reckon::short_m_at_k short1(reckon::short_m_at_k_params{.k = 8, .m = 1});
  const reckon::short_m_at_k short3(reckon::short_m_at_k_params{.k = 8, .m = 3});
  // The baseline lets all 8 finish and votes.
  const reckon::short_m_at_k majority(reckon::short_m_at_k_params{.k = 8, .m = 8});

  // On the stepping model every chain of a synthetic problem takes the same number of steps, so
  // they all finish in the same extend: the m with the fewest tokens vote and nothing is saved.
  // On whole samples the cost is counted as if the others had stopped at the m-th finisher.
  const char* names[3] = {"short-1@8", "short-3@8", "majority@8"};
  const reckon::short_m_at_k* runs[3] = {&short1, &short3, &majority};
  for (int s = 0; s < 3; ++s) {
    int right_step = 0, right_whole = 0;
    std::uint64_t tokens_step = 0, tokens_whole = 0;
    for (std::size_t i = 0; i < 40; ++i) {
      const auto& q = suite.problems[i];
      const reckon::problem p = q.as_problem();
      const reckon::random_stream stream(reckon::stream_key{.seed = 1, .problem = p.id});
      auto a = runs[s]->run(model, p, reckon::budget{}, stream);
      auto b = runs[s]->run_whole_samples(model, p, reckon::budget{}, stream);
      if (!a || !b) return fmt::print("{} error: {}\n", names[s], a ? b.error() : a.error()), 1;
      right_step += a->answer == q.gold ? 1 : 0;
      right_whole += b->answer == q.gold ? 1 : 0;
      tokens_step += a->cost.generated_tokens;
      tokens_whole += b->cost.generated_tokens;
    }
    fmt::print("{:<11} stepping {:2}/40 right, {:6} tokens | whole samples {:2}/40 right, {:6} tokens (counted)\n",
               names[s], right_step, tokens_step, right_whole, tokens_whole);
  }

  // The same idea offline: keep the shortest half of 8 whole samples, then vote (reckon's rule).
  std::vector<std::optional<std::string>> answers;
  std::vector<std::uint32_t> lengths;
  const auto& q = suite.problems[0];
  reckon::sampling_params sp;
  sp.seed = 7;
  auto batch = model.sample(q.as_problem(), sp, 8);
  if (!batch) return fmt::print("sample error: {}\n", batch.error()), 1;
  for (const auto& c : batch->completions) {
    answers.push_back(reckon::canonical_answer_key{}(c));
    lengths.push_back(c.tokens);
  }
  const auto tally = reckon::length_filtered_vote(answers, lengths, {.keep = 0.5});
  fmt::print("\nproblem 0 (gold {}): shortest half votes {}\n", q.gold, tally.winner().value_or("none"));
}
