// SPDX-License-Identifier: Apache-2.0
// Shared by the PRM-guided search strategies: live paths on a stepping model, forks, PRM checks, budgets.
#pragma once

#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/ledger.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/detail/sampling_rounds.hpp>
#include <reckon/strategy/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace reckon::detail {

/// One search path (a particle or a beam): its engine sequence while the engine holds it, and the
/// texts of its steps (what a PRM and the answer key read).
template <class Seq>
struct search_path {
  std::optional<Seq> handle;      ///< engaged while the engine holds the sequence (released when done)
  std::vector<std::string> steps; ///< step texts, in order
  std::uint32_t tokens = 0;       ///< generated tokens
  std::uint64_t source = 0;       ///< the last step's source (for reward models)
  bool done = false;              ///< no further step can be taken
  double score = 0.0;             ///< the PRM's score of the latest step (or of a lookahead rollout)
  double log_weight = 0.0;        ///< strategy-defined (particle filter: logit(score) / T)
  std::uint32_t node = 0;         ///< its latest step's node in the search tree (path_set::parent_of; 0: the prompt)

  /// The view a reward model reads (valid while the path is neither changed nor moved).
  [[nodiscard]] solution_view view() const noexcept { return solution_view{steps, done, source}; }
  /// The path as a completion (its steps joined), for the answer key.
  [[nodiscard]] completion as_completion() const {
    completion c;
    std::size_t size = 0;
    for (const auto& s : steps) size += s.size();
    c.text.reserve(size);
    for (const auto& s : steps) c.text += s;
    c.tokens = tokens;
    c.finish = done ? finish_reason::eos : finish_reason::length;
    c.source = source;
    return c;
  }
};

/// The ledger of a run over a metered model and a metered reward model: the model's ledger plus
/// the reward model's calls, tokens and time.
template <class M, class R>
[[nodiscard]] ledger combined_ledger(const metered<M&>& model, const metered<R&>& reward) {
  ledger out = model.ledger();
  out.prm_calls += reward.ledger().prm_calls;
  out.prm_tokens += reward.ledger().prm_tokens;
  out.wall_seconds += reward.ledger().wall_seconds;
  return out;
}

/// The token limit that leaves fewer generated tokens (the one that stops a run out of tokens).
[[nodiscard]] inline stop_reason tighter_token_limit(const budget& limit, const ledger& spent) noexcept {
  const std::uint64_t total_left = limit.max_total_tokens - std::min(limit.max_total_tokens, spent.total_tokens());
  const std::uint64_t generated_left =
      limit.max_generated_tokens - std::min(limit.max_generated_tokens, spent.generated_tokens);
  return total_left < generated_left ? stop_reason::total_tokens : stop_reason::generated_tokens;
}

/// Whether an extend of `sequences` sequences may start: sets `sp.max_step_tokens` to
/// min(cap, tokens left / sequences), so that the call cannot pass a token limit, and returns
/// nullopt; or returns the limit that forbids the call. `reserve`: tokens the call will process
/// that no ledger shows yet (a lazily prefilled prompt, see path_set::pending_prefill); they come
/// out of the total-tokens room before it is shared out.
[[nodiscard]] inline std::optional<stop_reason> afford_extend(const budget& limit, const ledger& spent,
                                                              std::size_t sequences, std::uint32_t cap,
                                                              step_params& sp, std::uint64_t reserve = 0) {
  if (auto why = limit.check(spent)) return why;
  std::uint64_t left = limit.generated_tokens_left(spent);
  if (reserve != 0 && limit.max_total_tokens != budget::unlimited) {
    const std::uint64_t total_left = limit.max_total_tokens - std::min(limit.max_total_tokens, spent.total_tokens());
    if (total_left <= reserve) return stop_reason::total_tokens;
    left = std::min(left, total_left - reserve);
  }
  const std::uint64_t per = sequences == 0 ? left : left / sequences;
  if (per == 0) return tighter_token_limit(limit, spent);
  sp.max_step_tokens = static_cast<std::uint32_t>(std::min<std::uint64_t>(cap, per));
  return std::nullopt;
}

/// Tokens reserved for a prompt that the engine has not prefilled yet (it does so lazily, in the
/// first extend, and only then reports the count). A model that knows the count says so with a
/// member `prompt_tokens(const problem&)` (convertible to std::uint64_t), which is used as is;
/// otherwise the reserve is one token per byte of the prompt, an upper bound for byte-level BPE
/// tokenizers (which never make more tokens than bytes; tokens an adapter's chat template adds
/// are not counted). So a run stays within max_total_tokens whenever the prompt's real count is
/// at most the reserve; the reserve costs nothing once the first extend has reported the prompt.
template <class M>
[[nodiscard]] std::uint64_t prompt_reserve(const M& model, const problem& p) {
  if constexpr (requires { { model.prompt_tokens(p) } -> std::convertible_to<std::uint64_t>; })
    return static_cast<std::uint64_t>(model.prompt_tokens(p));
  else
    return static_cast<std::uint64_t>(p.prompt.size());
}

/// Scores `views` with a PRM in one call and checks the answer: one list per view, one score per
/// step, each finite and in [0, 1]; a violation is an engine_failure naming it.
template <class R>
result<std::vector<std::vector<double>>> score_views(metered<R&>& prm, const problem& p,
                                                     std::span<const solution_view> views) {
  auto out = prm.score_steps(p, views);
  if (!out) return out.error();
  const std::vector<std::vector<double>>& scores = out.value();
  if (scores.size() != views.size())
    return fail(errc::engine_failure, fmt::format("process reward model returned {} score lists for {} candidates",
                                                  scores.size(), views.size()));
  for (std::size_t i = 0; i < views.size(); ++i) {
    if (scores[i].size() != views[i].steps.size())
      return fail(errc::engine_failure, fmt::format("process reward model returned {} step scores for candidate {} with {} steps",
                                                    scores[i].size(), i, views[i].steps.size()));
    for (const double s : scores[i])
      if (!std::isfinite(s) || s < 0.0 || s > 1.0)
        return fail(errc::engine_failure, fmt::format("process reward model returned a score outside [0, 1]: {}", s));
  }
  return out;
}

/// The seed of slot `slot`'s step `step`: from the run's stream, so a path's draws depend only on
/// (seed, problem, slot, step), never on batch composition.
[[nodiscard]] inline std::uint64_t slot_seed(const random_stream& stream, std::uint32_t slot, std::uint32_t step) {
  random_stream s = stream.substream(slot, step);
  return request_seed(s);
}

/// Particle ids at and above this are the strategies' own channels (resampling, acceptance), never a slot.
inline constexpr std::uint32_t strategy_channel = 0xFFFF0000U;

/// Paths on a stepping model, owned: every handle still held is released when the set dies, so a
/// run that fails half-way leaks no engine sequence. Duplicating a path forks it (the engine shares
/// the prefix); dropping one releases it.
template <class M>
class path_set {
public:
  using sequence = typename M::sequence;
  using path = search_path<sequence>;

  explicit path_set(metered<M&>& model) : model_(model) {}
  path_set(const path_set&) = delete;
  path_set& operator=(const path_set&) = delete;
  ~path_set() { release_all(); }

  std::vector<path> paths; ///< the live population (and finished paths kept as records)

  /// Begins one sequence and forks it up to `n - 1` times, so the prompt is prefilled once. A fork
  /// refused with no_capacity stops the growth (fewer paths; the trace says so). Returns the count.
  result<std::size_t> start(const problem& p, std::size_t n, strategy_result& log) {
    auto root = model_.begin(p);
    if (!root) return root.error();
    pending_prefill_ = prompt_reserve(model_.model(), p);
    paths.emplace_back();
    paths.back().handle = *root;
    while (paths.size() < n) {
      auto child = model_.fork(*root);
      if (!child) {
        if (child.error().code != errc::no_capacity) return child.error();
        log.trace.push_back(trace_event{0, fmt::format("fork: no capacity; started {} of {} paths", paths.size(), n)});
        break;
      }
      paths.emplace_back();
      paths.back().handle = *child;
    }
    return paths.size();
  }

  /// A copy of `from` for a new slot: a fork when the engine still holds it, a plain copy of the
  /// record when it is finished. nullopt when the engine refused the fork for capacity.
  result<std::optional<path>> duplicate(const path& from) {
    path copy;
    if (from.handle) {
      auto child = model_.fork(*from.handle);
      if (!child) {
        if (child.error().code != errc::no_capacity) return child.error();
        return std::optional<path>{};
      }
      copy.handle = *child;
    }
    copy.steps = from.steps;
    copy.tokens = from.tokens;
    copy.source = from.source;
    copy.done = from.done;
    copy.score = from.score;
    copy.log_weight = from.log_weight;
    copy.node = from.node;
    return std::optional<path>(std::move(copy));
  }

  /// Replaces the population by the offspring `ancestors` (indices into paths): an ancestor with no
  /// offspring is released first (freeing capacity), one with c offspring is forked c - 1 times and
  /// keeps its own handle for the last. Offspring the engine had no capacity for are dropped;
  /// returns how many. The offspring come grouped by ancestor, in ancestor order; `origin`, when
  /// given, receives each new path's ancestor.
  result<std::size_t> reassign(std::span<const std::size_t> ancestors, std::vector<std::size_t>* origin = nullptr) {
    counts_.assign(paths.size(), 0);
    for (const std::size_t a : ancestors) ++counts_[a];
    for (std::size_t i = 0; i < paths.size(); ++i)
      if (counts_[i] == 0) release(paths[i]);
    next_.clear();
    next_.reserve(ancestors.size());
    if (origin != nullptr) origin->clear();
    std::size_t dropped = 0;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      for (std::size_t c = 1; c < counts_[i]; ++c) {
        auto copy = duplicate(paths[i]);
        if (!copy) {
          for (auto& q : next_) release(q);
          return copy.error();
        }
        if (*copy) {
          next_.push_back(std::move(**copy));
          if (origin != nullptr) origin->push_back(i);
        } else {
          ++dropped;
        }
      }
      if (counts_[i] != 0) {
        next_.push_back(take(paths[i]));
        if (origin != nullptr) origin->push_back(i);
      }
    }
    paths.swap(next_);
    next_.clear();
    return dropped;
  }

  /// Keeps the paths at `keep` (in that order) and releases the rest.
  void keep_only(std::span<const std::size_t> keep) {
    counts_.assign(paths.size(), 0);
    for (const std::size_t k : keep) counts_[k] = 1;
    next_.clear();
    for (std::size_t i = 0; i < paths.size(); ++i)
      if (counts_[i] == 0) release(paths[i]);
    for (const std::size_t k : keep) next_.push_back(take(paths[k]));
    paths.swap(next_);
    next_.clear();
  }

  /// Extends the paths at `slots` (each held by the engine and not done) by one step in ONE call;
  /// slot i's step is seeded by (stream, seed_ids[i], step). A path whose step finishes it is
  /// released (its text is all that is needed from then on).
  result<void> extend(std::span<const std::size_t> slots, std::span<const std::uint32_t> seed_ids, std::uint32_t step,
                      const step_params& sp, const random_stream& stream) {
    handles_.clear();
    seeds_.clear();
    for (std::size_t k = 0; k < slots.size(); ++k) {
      handles_.push_back(*paths[slots[k]].handle);
      seeds_.push_back(slot_seed(stream, seed_ids[k], step));
    }
    auto batch = model_.extend(handles_, sp, seeds_);
    if (!batch) return batch.error();
    pending_prefill_ = 0; // every path shares the root, so this call prefilled the prompt
    std::vector<reckon::step>& got = batch.value().steps;
    if (got.size() != slots.size())
      return fail(errc::engine_failure, fmt::format("extend returned {} steps for {} sequences", got.size(), slots.size()));
    for (std::size_t k = 0; k < slots.size(); ++k) {
      path& q = paths[slots[k]];
      q.tokens += got[k].tokens;
      q.source = got[k].source;
      q.done = got[k].done;
      q.steps.push_back(std::move(got[k].text));
      parent_.push_back(q.node); // the step is a new node of the tree, a child of the path's last one
      q.node = static_cast<std::uint32_t>(parent_.size() - 1);
      if (q.done) release(q);
    }
    return {};
  }

  /// The search tree's parent of node `n` (> 0): every extended step is a node, node 0 the prompt;
  /// two paths share the nodes of the prefix they were forked from.
  [[nodiscard]] std::uint32_t parent_of(std::uint32_t n) const noexcept { return parent_[n]; }

  /// Tokens the next extend may prefill that no ledger shows yet: the prompt's reserve
  /// (prompt_reserve) from start() until the first extend, then 0.
  [[nodiscard]] std::uint64_t pending_prefill() const noexcept { return pending_prefill_; }

  /// afford_extend for an extend of this set, reserving pending_prefill().
  [[nodiscard]] std::optional<stop_reason> afford(const budget& limit, const ledger& spent, std::size_t sequences,
                                                  std::uint32_t cap, step_params& sp) const {
    return afford_extend(limit, spent, sequences, cap, sp, pending_prefill_);
  }

  /// The slots of the paths the engine still holds that are not done (those an extend may step),
  /// in slot order, into `live`; with `ids`, each one's seed id (its slot).
  void live_slots(std::vector<std::size_t>& live, std::vector<std::uint32_t>* ids = nullptr) const {
    live.clear();
    if (ids != nullptr) ids->clear();
    for (std::size_t i = 0; i < paths.size(); ++i)
      if (paths[i].handle && !paths[i].done) {
        live.push_back(i);
        if (ids != nullptr) ids->push_back(static_cast<std::uint32_t>(i));
      }
  }

  /// Releases a path's sequence (if the engine still holds it).
  void release(path& q) noexcept {
    if (q.handle) {
      model_.release(*q.handle);
      q.handle.reset();
    }
  }
  /// Releases every held sequence.
  void release_all() noexcept {
    for (auto& q : paths) release(q);
  }

private:
  /// Moves `q` out and disengages its handle: a moved-from optional stays engaged, and a handle
  /// owned twice is released twice on an error path (once from next_, once from paths).
  static path take(path& q) noexcept {
    path out = std::move(q);
    q.handle.reset();
    return out;
  }

  metered<M&>& model_;
  std::vector<std::size_t> counts_;
  std::vector<path> next_;
  std::vector<sequence> handles_;
  std::vector<std::uint64_t> seeds_;
  std::uint64_t pending_prefill_ = 0;
  std::vector<std::uint32_t> parent_{0}; // node 0, the prompt, is its own parent
};

/// Finishes capped paths: extends every held, unfinished path of `set` by one unscored step per
/// round (one batched extend per round; slot i seeded by (stream, i, first_step + round)) until
/// all are done or `max_rounds` rounds have run. Each round is afforded first (afford_extend, the
/// prompt reserve included); a limit that forbids one sets out.stopped_by and ends the rounds.
/// @returns the rounds taken, or the engine's error.
template <class M, class R>
result<std::uint32_t> finish_paths(path_set<M>& set, metered<M&>& m, metered<R&>& prm, const budget& limit,
                                   std::uint32_t first_step, std::uint32_t max_rounds, const step_params& sp,
                                   const random_stream& stream, strategy_result& out) {
  step_params round_sp = sp;
  std::vector<std::size_t> live;
  std::vector<std::uint32_t> ids;
  std::uint32_t rounds = 0;
  for (; rounds < max_rounds; ++rounds) {
    set.live_slots(live, &ids);
    if (live.empty()) break;
    if (auto why = set.afford(limit, combined_ledger(m, prm), live.size(), sp.max_step_tokens, round_sp)) {
      out.stopped_by = why;
      break;
    }
    if (auto ok = set.extend(live, ids, first_step + rounds, round_sp, stream); !ok) return ok.error();
  }
  return rounds;
}

/// What a PRM-guided search fixes at construction: its name, population, step cap, the finish
/// rounds at the cap, and each extend's parameters.
struct search_shape {
  const char* who = "search";
  std::size_t population = 1;      ///< paths started (one begin, population - 1 forks)
  std::uint32_t max_steps = 1;     ///< the most scored steps of one path
  std::uint32_t finish_steps = 0;  ///< unscored rounds for the paths still unfinished at the cap (finish_paths)
  step_params stepping{};          ///< each extend's parameters (max_step_tokens lowered near a token budget)
};

/// What a strategy's hooks see during search_run.
template <class M, class R>
struct search_context {
  path_set<M>& set;
  metered<M&>& model;
  metered<R&>& prm;
  const problem& p;
  const budget& limit;
  const random_stream& stream;
  strategy_result& out;
  /// The ledger so far, model and reward model together.
  [[nodiscard]] ledger spent() const { return combined_ledger(model, prm); }
};

/// The one loop of the PRM-guided searches, so that a fix to it lands in all of them:
/// budget check; start (one begin, forks); per step k < max_steps: the held unfinished paths
/// ("live") are seeded by `hooks.seeds`, afforded (afford_extend with the prompt reserve),
/// extended in ONE call, then, when the reward call is affordable (budget::check_reward_call:
/// a step already paid for is scored even if it reached a token or engine-call limit), scored by
/// `hooks.score` and pruned / resampled by `hooks.select`; at the cap, up to finish_steps unscored
/// rounds (finish_paths) for the paths left unfinished; then `hooks.finish` chooses the answer.
/// Hooks (templates over search_context<M, R>& c):
///   void seeds(c, std::span<const std::size_t> live, std::vector<std::uint32_t>& ids)
///   result<void> score(c, std::span<const std::size_t> live, std::uint32_t step, bool last)
///   result<bool> select(c, std::uint32_t step, bool last)        // true: the search is over
///   void finish(c, std::uint32_t steps, bool capped)              // sets answer, tally, samples
/// `last` is true on the step cap's step (work that only serves later steps can be skipped).
/// Every sequence is released on every path out (path_set); exceptions are the caller's
/// (checked_run) to catch. Returns budget_exhausted when not one step was affordable.
/// This form runs over meters the caller owns, so that a strategy running several searches
/// (Particle Gibbs' sweeps) checks the budget against, and reports as out.cost, everything spent
/// since the meters began.
template <class M, class R, class Hooks>
result<strategy_result> search_run(metered<M&>& m, metered<R&>& prm, const problem& p, const budget& limit,
                                   const random_stream& stream, const search_shape& shape, Hooks& hooks) {
  strategy_result out;
  path_set<M> set(m);
  search_context<M, R> c{set, m, prm, p, limit, stream, out};
  if (auto why = limit.check(c.spent())) return nothing_affordable(why);
  auto started = set.start(p, shape.population, out);
  if (!started) return started.error();

  step_params sp = shape.stepping;
  std::vector<std::size_t> live;
  std::vector<std::uint32_t> ids;
  std::uint32_t steps = 0;
  bool over = false;
  for (std::uint32_t k = 0; k < shape.max_steps && !over; ++k) {
    set.live_slots(live);
    if (live.empty()) break;
    hooks.seeds(c, std::span<const std::size_t>(live), ids);
    if (auto why = set.afford(limit, c.spent(), live.size(), shape.stepping.max_step_tokens, sp)) {
      out.stopped_by = why;
      break;
    }
    if (auto ok = set.extend(live, ids, k, sp, stream); !ok) return ok.error();
    ++steps;
    if (auto why = limit.check_reward_call(c.spent())) {
      out.stopped_by = why; // the PRM call itself is out of budget: this step stays unscored
      break;
    }
    const bool last = k + 1 == shape.max_steps;
    if (auto ok = hooks.score(c, std::span<const std::size_t>(live), k, last); !ok) return ok.error();
    auto end = hooks.select(c, k, last);
    if (!end) return end.error();
    over = end.value();
  }
  if (steps == 0) return nothing_affordable(out.stopped_by);
  std::size_t open = 0;
  for (const auto& q : set.paths) open += (q.handle && !q.done) ? 1 : 0;
  const bool capped = !over && !out.stopped_by && open != 0;
  if (capped && shape.finish_steps > 0) {
    auto rounds = finish_paths(set, m, prm, limit, shape.max_steps, shape.finish_steps, shape.stepping, stream, out);
    if (!rounds) return rounds.error();
    std::size_t still = 0;
    for (const auto& q : set.paths) still += (q.handle && !q.done) ? 1 : 0;
    out.trace.push_back(trace_event{steps, fmt::format("finish at cap: {} unscored rounds, {} of {} capped paths finished",
                                                       rounds.value(), open - still, open)});
  }
  hooks.finish(c, steps, capped);
  set.release_all();
  out.cost = c.spent();
  return out;
}

/// search_run on its own meters (the one-search case).
template <class M, class R, class Hooks>
result<strategy_result> search_run(M& model, R& reward, const problem& p, const budget& limit,
                                   const random_stream& stream, const search_shape& shape, Hooks& hooks) {
  metered<M&> m(model);
  metered<R&> prm(reward);
  return search_run(m, prm, p, limit, stream, shape, hooks);
}

} // namespace reckon::detail

namespace reckon::detail {

/// Fills out's answer, tally, confidence and samples from final paths' answers and weights: the
/// weighted vote (its leader), or with `naive` the answer of the heaviest path that has one (ties:
/// the earlier path). confidence is the chosen answer's share of the total weight.
inline void choose_answer(const std::vector<std::optional<std::string>>& answers, const std::vector<double>& weights,
                          bool naive, const vote_params& vote, strategy_result& out) {
  out.tally = weighted_vote(answers, weights, vote);
  out.samples = static_cast<std::uint32_t>(answers.size());
  if (naive) {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < answers.size(); ++i)
      if (answers[i] && (!best || weights[i] > weights[*best])) best = i;
    out.answer = best ? answers[*best] : std::nullopt;
  } else {
    out.answer = out.tally.winner();
  }
  const answer_tally* chosen = out.answer ? out.tally.find(*out.answer) : nullptr;
  out.confidence = chosen ? chosen->share : 0.0;
}

} // namespace reckon::detail
