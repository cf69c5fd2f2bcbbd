// SPDX-License-Identifier: Apache-2.0
// The evaluation harness: strategy x budget grids over a suite or recorded samples, on a thread pool.
#pragma once

// Each (strategy, budget, problem[, trial]) is one task with its own model and meter; tasks run on a
// pool of threads and write to their own slot, and rows are reduced in a fixed order afterwards, so
// the rows are identical for any thread count. A run's randomness is keyed by (seed, problem), the
// same for every strategy and budget (common random numbers).

#include <reckon/budget/ledger.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/core/result.hpp>
#include <reckon/eval/answers.hpp>
#include <reckon/eval/registry.hpp>
#include <reckon/testing/replay_model.hpp>
#include <reckon/testing/suite.hpp>
#include <reckon/testing/synthetic_model.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace reckon::eval {

/// One row of results: a strategy at one budget.
struct result_row {
  std::string strategy;         ///< the strategy's stable name
  std::uint32_t budget = 0;     ///< the budget (n samples for sample-based strategies)
  bool budget_is_n = false;     ///< true for replay rows (the JSON key is "n" rather than "budget")
  double accuracy = 0.0;        ///< fraction of runs whose answer matched the gold
  double ci_low = 0.0;          ///< 95% Wilson interval, lower end
  double ci_high = 0.0;         ///< 95% Wilson interval, upper end
  double tokens_mean = 0.0;     ///< mean generated + prefilled tokens per run
  double calls_mean = 0.0;      ///< mean engine calls per run
  double prm_calls_mean = 0.0;  ///< mean reward-model calls per run
  double kv_peak_mean = 0.0;    ///< mean over runs of the most KV tokens a prefix-sharing cache held (ledger::peak_shared_kv_tokens)
  double kv_mean = 0.0;         ///< mean over runs of the KV tokens it held on average over engine rounds (ledger::mean_shared_kv_tokens)
  std::size_t problems = 0;     ///< runs the row averages over (problems x trials)
  std::size_t answered = 0;     ///< runs that returned an answer
  std::size_t errors = 0;       ///< runs that failed (counted as wrong)
  std::string first_error;      ///< the first failure's message, if any

  friend bool operator==(const result_row&, const result_row&) = default;
};

/// The 95% Wilson score interval of `successes` out of `n` (n > 0).
[[nodiscard]] inline std::pair<double, double> wilson95(double successes, double n) {
  reckon::detail::require(n > 0 && successes >= 0 && successes <= n, "wilson95: need 0 <= successes <= n, n > 0");
  constexpr double z = 1.959963984540054;
  const double p = successes / n, z2n = z * z / n;
  const double centre = (p + z2n / 2) / (1 + z2n);
  const double half = z * std::sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n);
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

/// Runs `count` tasks on `threads` threads (0: hardware concurrency, at least 1); task(i) for each i.
/// Exceptions escaping a task are rethrown (the first one) after all threads stop.
inline void parallel_for(std::size_t count, std::size_t threads, const std::function<void(std::size_t)>& task) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, std::max<std::size_t>(count, 1));
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    while (true) {
      const std::size_t i = next.fetch_add(1);
      if (i >= count) return;
      try {
        task(i);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next.store(count);
      }
    }
  };
  if (threads == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  if (failure) std::rethrow_exception(failure);
}

/// Progress of a grid: called from worker threads (serialised) with (tasks done, tasks in all).
using progress_fn = std::function<void(std::size_t, std::size_t)>;

/// A strategy x budget grid over a synthetic suite.
struct grid_params {
  std::vector<std::string> strategies;    ///< stable names (non-empty; each must run on the synthetic model)
  std::vector<std::uint32_t> budgets;     ///< budgets (non-empty, each > 0)
  std::uint64_t seed = 0;                 ///< run seed
  std::size_t threads = 0;                ///< worker threads (0: hardware concurrency)
  std::size_t problems = 0;               ///< use the first N problems of the suite (0: all)
  testing::synthetic_params model{};      ///< the synthetic model's parameters
  progress_fn progress{};                 ///< optional progress callback
};

/// Recorded samples evaluated by one strategy at one n, over trials.
struct replay_run_params {
  std::string strategy;      ///< stable name (must run on recorded samples)
  std::uint32_t n = 1;       ///< samples per problem and trial (> 0; <= each problem's pool)
  std::uint32_t trials = 1;  ///< independent draws without replacement (> 0)
  std::uint64_t seed = 0;    ///< trial t uses the trial seed request_seed(seed, t)
  std::size_t threads = 0;   ///< worker threads (0: hardware concurrency)
  bool extract = false;      ///< ignore recorded answers; extract them from the text
  progress_fn progress{};    ///< optional progress callback
};

} // namespace reckon::eval

namespace reckon::detail::eval_grid {
using namespace reckon::eval;

struct task_result {
  bool correct = false;
  bool answered = false;
  bool failed = false;
  std::string error;
  ledger cost{};
};

inline result_row reduce_row(std::string strategy, std::uint32_t budget, bool is_n, const task_result* first,
                             std::size_t count) {
  result_row row;
  row.strategy = std::move(strategy);
  row.budget = budget;
  row.budget_is_n = is_n;
  row.problems = count;
  double correct = 0, tokens = 0, calls = 0, prm = 0, kv_peak = 0, kv = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const task_result& t = first[i];
    correct += t.correct ? 1.0 : 0.0;
    row.answered += t.answered ? 1 : 0;
    if (t.failed) {
      if (row.errors == 0) row.first_error = t.error;
      ++row.errors;
    }
    tokens += static_cast<double>(t.cost.total_tokens());
    calls += static_cast<double>(t.cost.engine_calls);
    prm += static_cast<double>(t.cost.prm_calls);
    kv_peak += static_cast<double>(t.cost.peak_shared_kv_tokens);
    kv += t.cost.mean_shared_kv_tokens();
  }
  const double n = static_cast<double>(count);
  row.accuracy = correct / n;
  std::tie(row.ci_low, row.ci_high) = wilson95(correct, n);
  row.tokens_mean = tokens / n;
  row.calls_mean = calls / n;
  row.prm_calls_mean = prm / n;
  row.kv_peak_mean = kv_peak / n;
  row.kv_mean = kv / n;
  return row;
}

template <class Model>
task_result run_one(const runner<metered<Model&>>& fn, Model& model, const problem& p, const run_config& c,
                    std::string_view gold) {
  task_result t;
  metered<Model&> meter{model};
  ledger side{};
  run_config config = c;
  config.side_costs = &side;
  run_outcome out;
  try {
    out = fn(meter, p, config).value(); // value() throws the run's error as reckon::exception
  } catch (const reckon::exception& e) {
    t.cost = meter.ledger() + side;
    t.failed = true;
    t.error = fmt::format("{}: {}", to_string(e.code()), e.error().message);
    return t;
  } catch (const std::exception& e) {
    t.cost = meter.ledger() + side;
    t.failed = true;
    t.error = fmt::format("engine_failure: strategy threw: {}", e.what());
    return t;
  }
  t.cost = meter.ledger() + side;
  t.answered = out.answer.has_value();
  t.correct = answers_match(out.answer, gold);
  return t;
}

class progress_counter {
public:
  progress_counter(const progress_fn& fn, std::size_t total) : fn_(fn), total_(total) {}
  void tick() {
    if (!fn_) return;
    std::lock_guard lock(mutex_);
    fn_(++done_, total_);
  }

private:
  const progress_fn& fn_;
  std::size_t total_;
  std::size_t done_ = 0;
  std::mutex mutex_;
};

} // namespace reckon::detail::eval_grid

namespace reckon::eval {

/// Runs every strategy at every budget over the suite's problems; rows in (strategy, budget)
/// order. Errors: an unknown strategy, one that cannot run on the synthetic model, no budgets or a
/// zero budget (errc::invalid_argument). A run that fails counts as wrong and is counted in
/// result_row::errors.
[[nodiscard]] inline result<std::vector<result_row>> run_grid(const testing::suite& problems_in,
                                                              const strategy_registry& registry,
                                                              const grid_params& params) {
  if (params.strategies.empty()) return fail(errc::invalid_argument, "no strategies given");
  if (params.budgets.empty()) return fail(errc::invalid_argument, "no budgets given");
  for (const auto b : params.budgets)
    if (b == 0) return fail(errc::invalid_argument, "budgets must be > 0");
  std::vector<const strategy_entry*> entries;
  for (const auto& name : params.strategies) {
    const strategy_entry* e = registry.find(name);
    if (e == nullptr) return fail(errc::invalid_argument, fmt::format("unknown strategy '{}'", name));
    if (!e->synthetic) return fail(errc::invalid_argument, fmt::format("strategy '{}' does not run on the synthetic model", name));
    entries.push_back(e);
  }
  if (problems_in.problems.empty()) return fail(errc::invalid_argument, "the suite has no problems");
  try {
    testing::validate(params.model);
  } catch (const reckon::exception& e) {
    return e.error();
  }
  auto suite = std::make_shared<testing::suite>(problems_in);
  if (params.problems != 0 && params.problems < suite->problems.size()) suite->problems.resize(params.problems);
  const std::shared_ptr<const testing::suite> shared = suite;
  const std::size_t np = shared->problems.size(), nb = params.budgets.size();
  const std::size_t total = entries.size() * nb * np;
  std::vector<reckon::detail::eval_grid::task_result> results(total);
  reckon::detail::eval_grid::progress_counter progress(params.progress, total);
  parallel_for(total, params.threads, [&](std::size_t i) {
    const std::size_t pi = i % np, bi = (i / np) % nb, si = i / (np * nb);
    const testing::synthetic_problem& q = shared->problems[pi];
    testing::synthetic_model model(shared, params.model);
    const run_config c{params.budgets[bi], params.seed, false, nullptr};
    results[i] = reckon::detail::eval_grid::run_one(entries[si]->synthetic, model, q.as_problem(), c, q.gold);
    progress.tick();
  });
  std::vector<result_row> rows;
  for (std::size_t si = 0; si < entries.size(); ++si)
    for (std::size_t bi = 0; bi < nb; ++bi)
      rows.push_back(reckon::detail::eval_grid::reduce_row(entries[si]->name, params.budgets[bi], false,
                                             results.data() + (si * nb + bi) * np, np));
  return rows;
}

/// Evaluates one strategy at one n on recorded samples over `trials` draws; one row. Errors: an
/// unknown strategy, one that needs more than recordings hold, n or trials of 0, or a problem whose
/// pool holds fewer than n samples (errc::invalid_argument naming it).
[[nodiscard]] inline result<result_row> run_replay(std::shared_ptr<const testing::replay_data> data,
                                                   const strategy_registry& registry, const replay_run_params& params) {
  if (data == nullptr || data->problems.empty()) return fail(errc::invalid_argument, "no replay data");
  const strategy_entry* e = registry.find(params.strategy);
  if (e == nullptr) return fail(errc::invalid_argument, fmt::format("unknown strategy '{}'", params.strategy));
  if (!e->replay) return fail(errc::invalid_argument, fmt::format("strategy '{}' does not run on recorded samples", params.strategy));
  if (params.n == 0) return fail(errc::invalid_argument, "n must be > 0");
  if (params.trials == 0) return fail(errc::invalid_argument, "trials must be > 0");
  for (const auto& p : data->problems)
    if (p.samples.size() < params.n)
      return fail(errc::invalid_argument, fmt::format("problem '{}' (line {}) has {} samples, fewer than n = {}", p.id,
                                                      p.line, p.samples.size(), params.n));
  const std::size_t np = data->problems.size(), total = np * params.trials;
  std::vector<reckon::detail::eval_grid::task_result> results(total);
  reckon::detail::eval_grid::progress_counter progress(params.progress, total);
  parallel_for(total, params.threads, [&](std::size_t i) {
    const std::size_t pi = i % np;
    const auto trial = static_cast<std::uint32_t>(i / np);
    const testing::replay_problem& q = data->problems[pi];
    const std::uint64_t trial_seed = request_seed(params.seed, trial);
    testing::replay_model model(data, trial_seed);
    const run_config c{params.n, trial_seed, params.extract, nullptr};
    results[i] = reckon::detail::eval_grid::run_one(e->replay, model, q.as_problem(), c, q.gold);
    progress.tick();
  });
  auto row = reckon::detail::eval_grid::reduce_row(e->name, params.n, true, results.data(), total);
  return row;
}

} // namespace reckon::eval
