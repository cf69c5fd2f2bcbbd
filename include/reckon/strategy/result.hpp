// SPDX-License-Identifier: Apache-2.0
// What every strategy returns: the answer, a confidence, the tally, a trace, the cost and why it stopped.
#pragma once

#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/ledger.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace reckon {

/// One thing a strategy did, for people reading a run (and for tests checking its decisions).
struct trace_event {
  std::uint32_t round = 0; ///< the strategy's round, step or refinement index
  std::string what;        ///< e.g. "sampled 8 (total 16)", "stopped: posterior 0.97 >= 0.95"
};

/// The outcome of running a strategy on one problem.
struct strategy_result {
  std::optional<std::string> answer;       ///< the chosen canonical answer; nullopt when no sample had one
  double confidence = 0.0;                 ///< the strategy's confidence in `answer` in [0, 1] (see each strategy)
  vote_tally tally;                        ///< per-answer counts, weights and shares behind the choice
  std::vector<trace_event> trace;          ///< what the strategy did, in order
  reckon::ledger cost;                     ///< everything the run spent
  std::optional<stop_reason> stopped_by;   ///< the budget limit that cut the run short, if one did
  std::uint32_t samples = 0;               ///< completions (or finished particles) the answer was chosen from
};

} // namespace reckon
