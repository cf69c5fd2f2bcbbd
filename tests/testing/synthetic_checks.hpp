// SPDX-License-Identifier: Apache-2.0
// What the synthetic model's tests measure its samples with: correctness against the gold, the
// empirical AUC of two score sets.
#pragma once

#include <reckon/testing/suite.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace reckon::test {

/// Whether a synthetic completion's text boxes the problem's gold answer.
inline bool boxes_gold(const testing::synthetic_problem& q, std::string_view text) {
  return text.find("\\boxed{" + q.gold + "}") != std::string_view::npos;
}

/// Empirical AUC: P(score of a correct item > score of an incorrect one).
inline double empirical_auc(const std::vector<double>& pos, std::vector<double> neg) {
  std::sort(neg.begin(), neg.end());
  double wins = 0.0;
  for (double p : pos) wins += static_cast<double>(std::lower_bound(neg.begin(), neg.end(), p) - neg.begin());
  return wins / (static_cast<double>(pos.size()) * static_cast<double>(neg.size()));
}

} // namespace reckon::test
