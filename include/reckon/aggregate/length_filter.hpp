// SPDX-License-Identifier: Apache-2.0
// Length-aware voting: keep the shortest answers, then a plurality vote whose ties go to the shortest.
#pragma once

// Why: Hassid et al. 2025 ("Don't Overthink it", short-m@k, Tab. 2) and Wang et al. 2025 ("Think
// Deep, Think Fast", abstract) both report that a reasoning model's correct answers are shorter
// than its incorrect ones for the same question.
// What is the papers' and what is reckon's:
// - the papers': short-m@k votes over the m chains that finish first and breaks ties by "the
//   answer with the shortest thinking chain" (Hassid §4.1); that tie-break is ties_to_shortest.
// - reckon's own rule: length_filtered_vote keeps the ceil(keep x N) shortest of the N answered
//   samples and votes over them. Think Deep, Think Fast reports that length features "can improve
//   the existing ITC methods", but its exact filter was not read (only the abstract); keep-the-
//   shortest-fraction is reckon's offline analogue of short-m@k (m = ceil(keep x N) of k = N),
//   not a rule from either paper. Answerless samples abstain and are neither kept nor counted in N.
// Order: samples are ranked by length, equal lengths by input order; the vote's first_seen is
// then the rank, so equal counts go to the answer with the shortest sample.
// Cost: O(N log N).

#include <reckon/aggregate/vote.hpp>
#include <reckon/core/result.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace reckon {

/// Tuning of a length-filtered vote.
struct length_filter_params {
  double keep = 0.5; ///< fraction of the answered samples kept, shortest first, in (0, 1]; 1 keeps all
};

/// Plurality vote over the ceil(keep x N) shortest of the N samples that have an answer; ties of
/// count go to the answer whose shortest kept sample is shortest (then the earlier input).
/// `lengths[i]` is sample i's length (its generated or thinking tokens). The tally's abstentions
/// count answerless samples; samples filtered out are not in the tally.
/// Throws reckon::exception (invalid_argument) when the spans differ in length or keep is not in (0, 1].
template <class Answer>
[[nodiscard]] vote_tally length_filtered_vote(std::span<const Answer> answers, std::span<const std::uint32_t> lengths,
                                              const length_filter_params& params = {}) {
  detail::require(answers.size() == lengths.size(), "length_filtered_vote: answers and lengths differ in length");
  detail::require(std::isfinite(params.keep) && params.keep > 0.0 && params.keep <= 1.0,
                  "length_filtered_vote: keep must be in (0, 1]");
  std::vector<std::size_t> order;
  std::size_t abstaining = 0;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    if (detail::as_answer(answers[i])) order.push_back(i);
    else ++abstaining;
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lengths[a] < lengths[b]; });
  const auto kept = static_cast<std::size_t>(std::ceil(params.keep * static_cast<double>(order.size()) - 1e-9));
  order.resize(std::min(order.size(), kept));
  vote_counter counter;
  for (const std::size_t i : order) counter.add(detail::as_answer(answers[i]), 1.0);
  for (std::size_t i = 0; i < abstaining; ++i) counter.add(std::nullopt);
  return counter.tally(vote_params{tie_break::first_seen});
}
/// length_filtered_vote over vectors.
template <class Answer>
[[nodiscard]] vote_tally length_filtered_vote(const std::vector<Answer>& answers, const std::vector<std::uint32_t>& lengths,
                                              const length_filter_params& params = {}) {
  return length_filtered_vote(std::span<const Answer>(answers), std::span<const std::uint32_t>(lengths), params);
}

/// Plurality vote with ties going to the answer with the shortest sample (short-m@k's rule):
/// length_filtered_vote keeping every answered sample.
template <class Answer>
[[nodiscard]] vote_tally ties_to_shortest(const std::vector<Answer>& answers, const std::vector<std::uint32_t>& lengths) {
  return length_filtered_vote(answers, lengths, length_filter_params{1.0});
}

} // namespace reckon
