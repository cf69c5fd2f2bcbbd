// SPDX-License-Identifier: Apache-2.0
// The bad-input matrix of the strategies (issue 19 item 5): for each strategy's run, the inputs it
// must reject (bad parameters, an exhausted or malformed budget, an engine or reward model that
// fails, times out, throws, returns too few or too many results, or NaN / inf where a number is
// read) and the error each gets. A row passes when run returns (never throws) that error code with
// a message naming the cause, and every engine sequence was released exactly once. An engine's own
// error code passes through (a timeout stays a timeout); a throw becomes engine_failure.
#include <support/catch.hpp>

#include <reckon/strategy/beam_search.hpp>
#include <reckon/strategy/best_of_n.hpp>
#include <reckon/strategy/compute_optimal.hpp>
#include <reckon/strategy/deepconf.hpp>
#include <reckon/strategy/odar.hpp>
#include <reckon/strategy/particle_filter.hpp>
#include <reckon/strategy/particle_gibbs.hpp>
#include <reckon/strategy/prism.hpp>
#include <reckon/strategy/ets.hpp>
#include <reckon/strategy/rebase.hpp>
#include <reckon/strategy/scale.hpp>
#include <reckon/strategy/self_consistency.hpp>
#include <reckon/strategy/sequential_revisions.hpp>
#include <reckon/strategy/short_m_at_k.hpp>
#include <reckon/strategy/zip_rc.hpp>

#include "strategy/hostile_stepping.hpp"
#include "strategy/strategy_fixtures.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace reckon;

namespace {

constexpr double sbi_nan = std::numeric_limits<double>::quiet_NaN();
constexpr double sbi_inf = std::numeric_limits<double>::infinity();

/// What a row's run came to: its error (none: the run succeeded, which fails the row) and whether
/// every engine sequence was released exactly once.
struct sbi_outcome {
  std::optional<reckon::error> error;
  bool clean = true;
};

template <class T>
sbi_outcome sbi_of(const result<T>& r, bool clean) {
  return {r ? std::nullopt : std::optional<reckon::error>(r.error()), clean};
}

struct sbi_row {
  std::string call;    // the strategy and what is wrong
  errc code;           // the error it gets
  std::string message; // a part of the error's message that names the cause
  std::function<sbi_outcome()> run;
};

void walk_strategy_rows(const std::vector<sbi_row>& table) {
  for (const auto& row : table) {
    INFO(row.call);
    sbi_outcome o;
    CHECK_NOTHROW(o = row.run());
    CHECK(o.clean);
    if (!o.error) {
      FAIL_CHECK("the run succeeded");
      continue;
    }
    INFO("got: " << o.error->message);
    CHECK(o.error->code == row.code);
    CHECK_THAT(o.error->message, Catch::Contains(row.message));
  }
}

/// How one kind of call of an sbi_engine misbehaves, from its `at`-th call (1-based) on.
enum class sbi_fault : std::uint8_t { none, fails, times_out, throws, too_few, too_many, nan, pos_inf, neg_inf, above_one, short_list };
struct sbi_fault_at {
  sbi_fault what = sbi_fault::none;
  std::uint32_t at = 1;
};
struct sbi_faults {
  sbi_fault_at sample, fork, extend, introspect, reward, revise;
};

/// The synthetic model with sample, fork, extend, introspect, revise and the reward models broken on
/// purpose (sbi_faults); it keeps every capability of the synthetic model. Its sequence ids are
/// reused, so live_sequences() == 0 is its audit (hostile_stepping audits each handle).
struct sbi_engine : testing::synthetic_model {
  sbi_engine(std::shared_ptr<const testing::suite> s, sbi_faults f) : testing::synthetic_model(std::move(s)), faults(f) {}
  sbi_faults faults;
  std::uint32_t samples = 0, forks = 0, extends = 0, introspects = 0, rewards = 0, revisions = 0;

  // The fault due on call `count` of a kind, or none.
  static sbi_fault due(const sbi_fault_at& f, std::uint32_t count) { return count >= f.at ? f.what : sbi_fault::none; }

  template <class T>
  static bool fail_or_throw(sbi_fault f, result<T>& out, const char* what) {
    if (f == sbi_fault::fails) {
      out = fail(errc::engine_failure, std::string("sbi_engine: ") + what + " failed");
      return true;
    }
    if (f == sbi_fault::times_out) {
      out = fail(errc::timeout, std::string("sbi_engine: ") + what + " timed out");
      return true;
    }
    if (f == sbi_fault::throws) throw std::runtime_error(std::string("sbi_engine: ") + what + " threw");
    return false;
  }

  template <class Stats>
  static void poison(Stats& stats, sbi_fault f) {
    const float v = f == sbi_fault::nan      ? std::numeric_limits<float>::quiet_NaN()
                    : f == sbi_fault::pos_inf ? std::numeric_limits<float>::infinity()
                                              : -std::numeric_limits<float>::infinity();
    if (!stats.logprob.empty()) stats.logprob[0] = v;
    if (!stats.entropy.empty()) stats.entropy[0] = v;
    if (!stats.top_logprobs.empty()) stats.top_logprobs[0] = v;
    if (!stats.confidence.empty()) stats.confidence[0] = v;
  }

  result<sample_batch> sample(const problem& p, const sampling_params& sp, std::uint32_t n) {
    const sbi_fault f = due(faults.sample, ++samples);
    result<sample_batch> out = fail(errc::engine_failure, "");
    if (fail_or_throw(f, out, "sample")) return out;
    out = testing::synthetic_model::sample(p, sp, n);
    if (!out) return out;
    if (f == sbi_fault::too_few) out->completions.pop_back();
    if (f == sbi_fault::too_many) out->completions.push_back(out->completions.back());
    if (f == sbi_fault::nan || f == sbi_fault::pos_inf) poison(out->completions.front().stats, f);
    return out;
  }
  result<sample_batch> revise(const problem& p, std::span<const revision_request> requests, const sampling_params& sp) {
    const sbi_fault f = due(faults.revise, ++revisions);
    result<sample_batch> out = fail(errc::engine_failure, "");
    if (fail_or_throw(f, out, "revise")) return out;
    out = testing::synthetic_model::revise(p, requests, sp);
    if (!out || out->completions.empty()) return out;
    if (f == sbi_fault::too_few) out->completions.pop_back();
    if (f == sbi_fault::too_many) out->completions.push_back(out->completions.back());
    return out;
  }
  result<sequence> fork(sequence s) {
    result<sequence> out = fail(errc::engine_failure, "");
    if (fail_or_throw(due(faults.fork, ++forks), out, "fork")) return out;
    return testing::synthetic_model::fork(s);
  }
  result<step_batch> extend(std::span<const sequence> seqs, const step_params& sp, std::span<const std::uint64_t> seeds) {
    const sbi_fault f = due(faults.extend, ++extends);
    result<step_batch> out = fail(errc::engine_failure, "");
    if (fail_or_throw(f, out, "extend")) return out;
    out = testing::synthetic_model::extend(seqs, sp, seeds);
    if (!out) return out;
    if (f == sbi_fault::too_few) out->steps.pop_back();
    if (f == sbi_fault::too_many) out->steps.push_back(out->steps.back());
    if (f == sbi_fault::nan || f == sbi_fault::pos_inf) poison(out->steps.front().stats, f);
    return out;
  }
  result<introspection> introspect(std::span<const sequence> seqs) {
    const sbi_fault f = due(faults.introspect, ++introspects);
    result<introspection> out = fail(errc::engine_failure, "");
    if (fail_or_throw(f, out, "introspect")) return out;
    out = testing::synthetic_model::introspect(seqs);
    if (!out) return out;
    if (f == sbi_fault::too_few) out->joint.pop_back();
    if (f == sbi_fault::too_many) out->joint.push_back(out->joint.back());
    if (f == sbi_fault::nan) out->joint.front()(0, 0) = sbi_nan;
    return out;
  }
  static double bad_score(sbi_fault f) {
    return f == sbi_fault::nan ? sbi_nan : f == sbi_fault::pos_inf ? sbi_inf : f == sbi_fault::neg_inf ? -sbi_inf : 1.5;
  }
  result<std::vector<std::vector<double>>> score_steps(const problem& p, std::span<const solution_view> c) {
    const sbi_fault f = due(faults.reward, ++rewards);
    result<std::vector<std::vector<double>>> out = fail(errc::engine_failure, "");
    if (fail_or_throw(f, out, "score_steps")) return out;
    out = testing::synthetic_model::score_steps(p, c);
    if (!out || out->empty()) return out;
    if (f == sbi_fault::too_few) out->pop_back();
    if (f == sbi_fault::too_many) out->push_back(out->back());
    if (f == sbi_fault::short_list) out->front().pop_back();
    if (f == sbi_fault::nan || f == sbi_fault::pos_inf || f == sbi_fault::neg_inf || f == sbi_fault::above_one)
      out->front().back() = bad_score(f);
    return out;
  }
  result<std::vector<double>> score_outcomes(const problem& p, std::span<const solution_view> c) {
    const sbi_fault f = due(faults.reward, ++rewards);
    result<std::vector<double>> out = fail(errc::engine_failure, "");
    if (fail_or_throw(f, out, "score_outcomes")) return out;
    out = testing::synthetic_model::score_outcomes(p, c);
    if (!out || out->empty()) return out;
    if (f == sbi_fault::too_few) out->pop_back();
    if (f == sbi_fault::too_many) out->push_back(out->back());
    if (f == sbi_fault::nan || f == sbi_fault::pos_inf || f == sbi_fault::neg_inf || f == sbi_fault::above_one)
      out->front() = bad_score(f);
    return out;
  }
};

/// hostile_stepping whose extend number `long_at` returns one step too many.
struct sbi_long_stepping : test::hostile_stepping {
  sbi_long_stepping(testing::synthetic_model& inner, test::hostile_modes m, std::uint32_t long_extend_at)
      : test::hostile_stepping(inner, m), long_at(long_extend_at) {}
  std::uint32_t long_at;
  std::uint32_t calls = 0;
  result<step_batch> extend(std::span<const sequence> seqs, const step_params& sp, std::span<const std::uint64_t> seeds) {
    auto out = test::hostile_stepping::extend(seqs, sp, seeds);
    if (out && ++calls == long_at && !out->steps.empty()) out->steps.push_back(out->steps.back());
    return out;
  }
};

/// sbi_engine seen as a stepping + logprob model only (online DeepConf then steps its warm-up too).
struct sbi_stepper {
  using reckon_model_concept = capabilities<stepping_model_tag, logprob_model_tag>;
  using sequence = sbi_engine::sequence;
  static constexpr std::uint32_t logprob_top_k = sbi_engine::logprob_top_k;
  sbi_engine& engine;
  result<sequence> begin(const problem& p) { return engine.begin(p); }
  result<sequence> fork(sequence s) { return engine.fork(s); }
  void release(sequence s) noexcept { engine.release(s); }
  result<step_batch> extend(std::span<const sequence> seqs, const step_params& sp, std::span<const std::uint64_t> seeds) {
    return engine.extend(seqs, sp, seeds);
  }
};

/// An outcome reward model only (no PRM), scoring every candidate 0.5.
struct sbi_orm_only {
  using reckon_model_concept = outcome_reward_model_tag;
  result<std::vector<double>> score_outcomes(const problem&, std::span<const solution_view> c) {
    return std::vector<double>(c.size(), 0.5);
  }
};

/// An embedder that breaks in a chosen way on its first call (the synthetic model's vectors otherwise).
struct sbi_embedder {
  using reckon_model_concept = embedding_model_tag;
  std::shared_ptr<const testing::suite> suite;
  sbi_fault fault = sbi_fault::none;
  result<embedding_batch> embed(std::span<const std::string> texts) {
    if (fault == sbi_fault::fails) return fail(errc::engine_failure, "embed failed");
    if (fault == sbi_fault::throws) throw std::runtime_error("embed threw");
    testing::synthetic_model m(suite);
    auto out = m.embed(texts);
    if (out && fault == sbi_fault::too_few) out->values.resize(out->values.size() - out->dimension);
    if (out && fault == sbi_fault::nan) out->values[0] = std::numeric_limits<float>::quiet_NaN();
    return out;
  }
};

struct sbi_world {
  std::shared_ptr<const testing::suite> suite = test::shared_suite("mixed", 4);
  problem p = suite->problems[0].as_problem();
  random_stream stream{stream_key{.seed = 19, .problem = p.id}};
};

budget sbi_calls(std::uint64_t n) {
  budget b;
  b.max_engine_calls = n;
  return b;
}
budget sbi_tokens(std::uint64_t generated, std::uint64_t total) {
  budget b;
  b.max_generated_tokens = generated;
  b.max_total_tokens = total;
  return b;
}
budget sbi_prm_calls(std::uint64_t n) {
  budget b;
  b.max_prm_calls = n;
  return b;
}
budget sbi_nan_wall() {
  budget b;
  b.max_wall_seconds = sbi_nan;
  return b;
}
budget sbi_past_deadline() {
  budget b;
  b.deadline = budget::clock::now() - std::chrono::seconds(1);
  return b;
}

// ---- rows shared by the strategies of one kind ----------------------------------------------------

/// Exhausted and malformed budgets: `limited(budget)` makes a row's run.
template <class Limited>
void add_budget_rows(std::vector<sbi_row>& t, const std::string& name, Limited limited) {
  t.push_back({name + ": no engine call allowed", errc::budget_exhausted, "engine_calls", limited(sbi_calls(0))});
  t.push_back({name + ": no generated token allowed", errc::budget_exhausted, "generated_tokens",
               limited(sbi_tokens(0, budget::unlimited))});
  t.push_back({name + ": one token in all allowed", errc::budget_exhausted, "total_tokens", limited(sbi_tokens(budget::unlimited, 1))});
  t.push_back({name + ": a deadline already passed", errc::budget_exhausted, "deadline", limited(sbi_past_deadline())});
  t.push_back({name + ": a NaN wall-time limit", errc::invalid_argument, "max_wall_seconds", limited(sbi_nan_wall())});
}

/// A stepping strategy on hostile engines and bad budgets, and (with_prm) on broken PRMs:
/// `go(model, reward, budget)` runs it. `first_fork` is the fork (1-based) that fails while the
/// run is under way.
template <class Go>
void add_stepping_rows(std::vector<sbi_row>& t, const sbi_world& w, const std::string& name, Go go, std::uint32_t first_fork,
                       bool with_prm = true) {
  using modes = test::hostile_modes;
  auto hostile = [w, go](modes m, std::uint32_t long_at) {
    return [w, go, m, long_at] {
      testing::synthetic_model inner(w.suite);
      sbi_long_stepping model(inner, m, long_at);
      auto r = go(model, inner, budget{});
      return sbi_of(r, model.clean() && inner.live_sequences() == 0);
    };
  };
  auto broken_prm = [w, go](sbi_fault f) {
    return [w, go, f] {
      testing::synthetic_model inner(w.suite);
      test::hostile_stepping model(inner);
      sbi_engine prm(w.suite, sbi_faults{.reward = {f, 2}});
      auto r = go(model, prm, budget{});
      return sbi_of(r, model.clean() && inner.live_sequences() == 0);
    };
  };
  auto limited = [w, go](budget b) {
    return [w, go, b] {
      testing::synthetic_model inner(w.suite);
      test::hostile_stepping model(inner);
      auto r = go(model, inner, b);
      return sbi_of(r, model.clean() && inner.live_sequences() == 0);
    };
  };
  const std::uint32_t never = modes::never;
  t.push_back({name + ": a fork fails mid-run", errc::engine_failure, "fork refused",
               hostile(modes{.forks_before_failure = first_fork}, never)});
  // An engine's own code passes through: a timeout stays a timeout.
  t.push_back({name + ": a fork times out", errc::timeout, "fork refused",
               hostile(modes{.forks_before_failure = first_fork, .fork_error = errc::timeout}, never)});
  t.push_back({name + ": extend fails", errc::engine_failure, "extend failed", hostile(modes{.fail_extend_at = 2}, never)});
  t.push_back({name + ": extend throws", errc::engine_failure, "extend threw", hostile(modes{.throw_extend_at = 2}, never)});
  t.push_back({name + ": extend returns a step too few", errc::engine_failure, "steps for",
               hostile(modes{.short_extend_at = 2}, never)});
  t.push_back({name + ": extend returns a step too many", errc::engine_failure, "steps for", hostile(modes{}, 2)});
  if (with_prm) {
    t.push_back({name + ": the PRM times out", errc::timeout, "score_steps timed out", broken_prm(sbi_fault::times_out)});
    t.push_back({name + ": the PRM fails", errc::engine_failure, "score_steps failed", broken_prm(sbi_fault::fails)});
    t.push_back({name + ": the PRM throws", errc::engine_failure, "score_steps threw", broken_prm(sbi_fault::throws)});
    t.push_back({name + ": the PRM returns a list too few", errc::engine_failure, "score lists for", broken_prm(sbi_fault::too_few)});
    t.push_back({name + ": the PRM returns a list too many", errc::engine_failure, "score lists for", broken_prm(sbi_fault::too_many)});
    t.push_back({name + ": the PRM returns a score too few", errc::engine_failure, "scores for", broken_prm(sbi_fault::short_list)});
    t.push_back({name + ": the PRM returns NaN", errc::engine_failure, "[0, 1]", broken_prm(sbi_fault::nan)});
    t.push_back({name + ": the PRM returns +inf", errc::engine_failure, "[0, 1]", broken_prm(sbi_fault::pos_inf)});
    t.push_back({name + ": the PRM returns -inf", errc::engine_failure, "[0, 1]", broken_prm(sbi_fault::neg_inf)});
    t.push_back({name + ": the PRM returns 1.5", errc::engine_failure, "[0, 1]", broken_prm(sbi_fault::above_one)});
  }
  if (with_prm)
    t.push_back({name + ": no PRM call allowed", errc::budget_exhausted, "prm_calls", limited(sbi_prm_calls(0))});
  add_budget_rows(t, name, limited);
}

/// The rows of a stepping + PRM strategy S (run(model, reward, p, budget, stream)).
template <class S>
void add_search_rows(std::vector<sbi_row>& t, const sbi_world& w, const std::string& name, S s, std::uint32_t first_fork) {
  add_stepping_rows(t, w, name, [w, s](auto& model, auto& reward, const budget& b) {
    return s.run(model, reward, w.p, b, w.stream);
  }, first_fork);
}

/// A strategy whose run is run(model, p, budget, stream) or run(model, reward, p, budget, stream)
/// over whole samples: `go(model, budget)` runs it. Rows: the sampler fails, throws, returns too
/// few or too many; bad budgets.
template <class Go>
void add_sampler_rows(std::vector<sbi_row>& t, const sbi_world& w, const std::string& name, Go go) {
  auto broken = [w, go](sbi_fault f) {
    return [w, go, f] {
      sbi_engine model(w.suite, sbi_faults{.sample = {f, 1}});
      auto r = go(model, budget{});
      return sbi_of(r, model.live_sequences() == 0);
    };
  };
  auto limited = [w, go](budget b) {
    return [w, go, b] {
      sbi_engine model(w.suite, sbi_faults{});
      auto r = go(model, b);
      return sbi_of(r, model.live_sequences() == 0);
    };
  };
  t.push_back({name + ": the sampler fails", errc::engine_failure, "sample failed", broken(sbi_fault::fails)});
  t.push_back({name + ": the sampler throws", errc::engine_failure, "sample threw", broken(sbi_fault::throws)});
  t.push_back({name + ": the sampler times out", errc::timeout, "sample timed out", broken(sbi_fault::times_out)});
  t.push_back({name + ": the sampler returns a completion too few", errc::engine_failure, "completions for a request of",
               broken(sbi_fault::too_few)});
  t.push_back({name + ": the sampler returns a completion too many", errc::engine_failure, "completions for a request of",
               broken(sbi_fault::too_many)});
  add_budget_rows(t, name, limited);
}

/// Rows of a logprob-reading strategy: a NaN or +inf in the first completion's statistics.
template <class Go>
void add_logprob_rows(std::vector<sbi_row>& t, const sbi_world& w, const std::string& name, Go go, errc code,
                      const std::string& message) {
  for (const sbi_fault f : {sbi_fault::nan, sbi_fault::pos_inf})
    t.push_back({name + (f == sbi_fault::nan ? ": a NaN logprob" : ": a +inf logprob"), code, message, [w, go, f] {
                   sbi_engine model(w.suite, sbi_faults{.sample = {f, 1}});
                   auto r = go(model, budget{});
                   return sbi_of(r, model.live_sequences() == 0);
                 }});
}

/// A row that runs `go(model)` on a clean synthetic model: a bad parameter.
template <class Go>
sbi_row sbi_param_row(const sbi_world& w, std::string call, std::string message, Go go) {
  return {std::move(call), errc::invalid_argument, std::move(message), [w, go] {
            sbi_engine model(w.suite, sbi_faults{});
            auto r = go(model);
            return sbi_of(r, model.live_sequences() == 0);
          }};
}

/// Reward-model rows of a strategy that scores whole samples with an ORM or PRM: `go(model, reward)`.
template <class Go>
void add_scorer_rows(std::vector<sbi_row>& t, const sbi_world& w, const std::string& name, const std::string& kind, Go go,
                     const std::string& count_message) {
  auto broken = [w, go](sbi_fault f) {
    return [w, go, f] {
      testing::synthetic_model model(w.suite);
      sbi_engine reward(w.suite, sbi_faults{.reward = {f, 1}});
      auto r = go(model, reward);
      return sbi_of(r, model.live_sequences() == 0);
    };
  };
  t.push_back({name + ": the " + kind + " fails", errc::engine_failure, "failed", broken(sbi_fault::fails)});
  t.push_back({name + ": the " + kind + " throws", errc::engine_failure, "threw", broken(sbi_fault::throws)});
  t.push_back({name + ": the " + kind + " times out", errc::timeout, "timed out", broken(sbi_fault::times_out)});
  t.push_back({name + ": the " + kind + " returns too few", errc::engine_failure, count_message, broken(sbi_fault::too_few)});
  t.push_back({name + ": the " + kind + " returns too many", errc::engine_failure, count_message, broken(sbi_fault::too_many)});
  t.push_back({name + ": the " + kind + " returns NaN", errc::engine_failure, "[0, 1]", broken(sbi_fault::nan)});
  t.push_back({name + ": the " + kind + " returns +inf", errc::engine_failure, "[0, 1]", broken(sbi_fault::pos_inf)});
  t.push_back({name + ": the " + kind + " returns -inf", errc::engine_failure, "[0, 1]", broken(sbi_fault::neg_inf)});
  t.push_back({name + ": the " + kind + " returns 1.5", errc::engine_failure, "[0, 1]", broken(sbi_fault::above_one)});
}

} // namespace

TEST_CASE("bad input: the tree and particle searches reject bad params, hostile engines, broken PRMs and bad budgets",
          "[errors][strategy]") {
  const sbi_world w;
  std::vector<sbi_row> t;
  auto search_params = [&](const std::string& name, auto s, std::string message) {
    t.push_back(sbi_param_row(w, name, std::move(message), [w, s](sbi_engine& m) { return s.run(m, m, w.p, budget{}, w.stream); }));
  };
  search_params("particle_filter: n = 0", particle_filter(particle_filter_params{.n = 0}), "n must be > 0");
  search_params("particle_filter: max_steps = 0", particle_filter(particle_filter_params{.max_steps = 0}), "max_steps must be > 0");
  search_params("particle_filter: temperature NaN", particle_filter(particle_filter_params{.temperature = sbi_nan}), "temperature");
  search_params("particle_filter: temperature -1", particle_filter(particle_filter_params{.temperature = -1.0}), "temperature");
  search_params("particle_filter: annealing to an infinite temperature",
                particle_filter(particle_filter_params{.final_temperature = sbi_inf, .anneal_steps = 4}), "final_temperature");
  search_params("particle_filter: score_clamp 0.5", particle_filter(particle_filter_params{.score_clamp = 0.5}), "score_clamp");
  search_params("particle_filter: max_step_tokens = 0",
                particle_filter(particle_filter_params{.stepping = step_params{.max_step_tokens = 0}}), "max_step_tokens");
  search_params("particle_gibbs: n = 0", particle_gibbs(particle_gibbs_params{.n = 0}), "n must be > 0");
  search_params("particle_gibbs: iterations = 0", particle_gibbs(particle_gibbs_params{.iterations = 0}), "iterations must be > 0");
  search_params("particle_gibbs: references = n", particle_gibbs(particle_gibbs_params{.n = 4, .references = 4}), "references");
  search_params("particle_gibbs: references = 0", particle_gibbs(particle_gibbs_params{.references = 0}), "references");
  search_params("particle_gibbs: temperature inf", particle_gibbs(particle_gibbs_params{.temperature = sbi_inf}), "temperature");
  search_params("particle_gibbs: score_clamp NaN", particle_gibbs(particle_gibbs_params{.score_clamp = sbi_nan}), "score_clamp");
  search_params("beam_search: n = 0", beam_search(beam_search_params{.n = 0}), "n must be > 0");
  search_params("beam_search: width = 0", beam_search(beam_search_params{.width = 0}), "width must be in [1, n]");
  search_params("beam_search: width > n", beam_search(beam_search_params{.n = 4, .width = 8}), "width must be in [1, n]");
  search_params("beam_search: max_steps = 0", beam_search(beam_search_params{.max_steps = 0}), "max_steps must be > 0");
  search_params("beam_search: an unknown reduction",
                beam_search(beam_search_params{.reduction = static_cast<step_reduction>(99)}), "unknown reduction");
  search_params("dvts: width > n", dvts(beam_search_params{.n = 2, .width = 4}), "width must be in [1, n]");
  search_params("dvts: an empty step delimiter",
                dvts(beam_search_params{.stepping = step_params{.delimiter = ""}}), "delimiter");
  search_params("rebase: width = 0", rebase(rebase_params{.width = 0}), "width must be > 0");
  search_params("rebase: balance_temperature 0", rebase(rebase_params{.balance_temperature = 0.0}), "balance_temperature");
  search_params("rebase: balance_temperature NaN", rebase(rebase_params{.balance_temperature = sbi_nan}), "balance_temperature");
  search_params("rebase: max_depth = 0", rebase(rebase_params{.max_depth = 0}), "max_depth must be > 0");
  search_params("rebase: max_tokens = 0", rebase(rebase_params{.max_tokens = 0}), "max_tokens must be > 0");
  search_params("rebase: truncate_ratio 0", rebase(rebase_params{.truncate_ratio = 0.0}), "truncate_ratio");
  search_params("rebase: truncate_ratio NaN", rebase(rebase_params{.truncate_ratio = sbi_nan}), "truncate_ratio");
  add_search_rows(t, w, "particle_filter", particle_filter(particle_filter_params{.n = 6}), 6);
  add_search_rows(t, w, "particle_gibbs", particle_gibbs(particle_gibbs_params{.n = 4}), 6);
  add_search_rows(t, w, "beam_search", beam_search(beam_search_params{.n = 8, .width = 2}), 8);
  add_search_rows(t, w, "dvts", dvts(beam_search_params{.n = 8, .width = 2}), 8);
  add_search_rows(t, w, "rebase", rebase(rebase_params{.width = 8}), 2);

  // ETS: REBASE's rows with a clean synthetic embedder, its own parameters, and a broken embedder.
  auto ets_params_row = [&](const std::string& name, ets_params q, std::string message) {
    t.push_back(sbi_param_row(w, name, std::move(message), [w, q](sbi_engine& m) { return ets(q).run(m, m, m, w.p, budget{}, w.stream); }));
  };
  ets_params e0;
  e0.search.width = 0;
  ets_params_row("ets: width = 0", e0, "ets: search: width must be > 0");
  ets_params e1;
  e1.cost_weight = sbi_nan;
  ets_params_row("ets: cost_weight NaN", e1, "cost_weight must be finite and >= 0");
  ets_params e2;
  e2.coverage_weight = -1.0;
  ets_params_row("ets: coverage_weight -1", e2, "coverage_weight must be finite and >= 0");
  ets_params e3;
  e3.cluster_distance = sbi_inf;
  ets_params_row("ets: cluster_distance inf", e3, "cluster_distance must be in [0, 2]");
  ets_params eq;
  eq.search.width = 8;
  const ets es(eq);
  add_stepping_rows(t, w, "ets", [w, es](auto& model, auto& reward, const budget& b) {
    testing::synthetic_model embedder(w.suite);
    return es.run(model, reward, embedder, w.p, b, w.stream);
  }, 2);
  for (const sbi_fault f : {sbi_fault::fails, sbi_fault::throws, sbi_fault::too_few, sbi_fault::nan})
    t.push_back({std::string("ets: the embedder ") + (f == sbi_fault::fails ? "fails" : f == sbi_fault::throws ? "throws"
                                                     : f == sbi_fault::too_few ? "returns a vector too few" : "returns a NaN"),
                 errc::engine_failure, f == sbi_fault::too_few ? "vectors for" : f == sbi_fault::nan ? "embedding model: " : "embed",
                 [w, es, f] {
                   testing::synthetic_model model(w.suite);
                   sbi_embedder embedder{w.suite, f};
                   return sbi_of(es.run(model, model, embedder, w.p, budget{}, w.stream), model.live_sequences() == 0);
                 }});
  walk_strategy_rows(t);
}


namespace {

/// Faults of sbi_engine's own stepping calls (for strategies that need a logprob or
/// introspective stepping model, which hostile_stepping is not): `go(model, budget)` runs it;
/// the faults start at the second call of their kind, with the run under way.
template <class Go>
void add_engine_rows(std::vector<sbi_row>& t, const sbi_world& w, const std::string& name, Go go, bool forks, bool introspects) {
  auto broken = [w, go](sbi_faults f) {
    return [w, go, f] {
      sbi_engine model(w.suite, f);
      auto r = go(model, budget{});
      return sbi_of(r, model.live_sequences() == 0);
    };
  };
  if (forks) {
    t.push_back({name + ": a fork fails", errc::engine_failure, "fork failed", broken({.fork = {sbi_fault::fails, 2}})});
    t.push_back({name + ": a fork throws", errc::engine_failure, "fork threw", broken({.fork = {sbi_fault::throws, 2}})});
  }
  t.push_back({name + ": extend fails", errc::engine_failure, "extend failed", broken({.extend = {sbi_fault::fails, 2}})});
  t.push_back({name + ": extend throws", errc::engine_failure, "extend threw", broken({.extend = {sbi_fault::throws, 2}})});
  t.push_back({name + ": extend times out", errc::timeout, "extend timed out", broken({.extend = {sbi_fault::times_out, 2}})});
  t.push_back({name + ": extend returns a step too few", errc::engine_failure, "steps for",
               broken({.extend = {sbi_fault::too_few, 2}})});
  t.push_back({name + ": extend returns a step too many", errc::engine_failure, "steps for",
               broken({.extend = {sbi_fault::too_many, 2}})});
  if (!introspects) return;
  t.push_back({name + ": introspect fails", errc::engine_failure, "introspect failed", broken({.introspect = {sbi_fault::fails, 2}})});
  t.push_back({name + ": introspect throws", errc::engine_failure, "introspect threw", broken({.introspect = {sbi_fault::throws, 2}})});
  t.push_back({name + ": introspect times out", errc::timeout, "introspect timed out", broken({.introspect = {sbi_fault::times_out, 2}})});
  t.push_back({name + ": introspect returns a table too few", errc::engine_failure, "tables for",
               broken({.introspect = {sbi_fault::too_few, 2}})});
  t.push_back({name + ": introspect returns a table too many", errc::engine_failure, "tables for",
               broken({.introspect = {sbi_fault::too_many, 2}})});
  t.push_back({name + ": introspect returns a NaN probability", errc::engine_failure, "not finite",
               broken({.introspect = {sbi_fault::nan, 2}})});
}

} // namespace

TEST_CASE("bad input: the sampling strategies reject bad params, hostile samplers, broken scorers and bad budgets",
          "[errors][strategy]") {
  const sbi_world w;
  std::vector<sbi_row> t;
  // best-of-n (PRM and ORM scorers)
  auto bon_go = [w](auto s) { return [w, s](auto& m, const budget& b) { return s.run(m, m, w.p, b, w.stream); }; };
  auto bon_params = [&](const std::string& call, best_of_n_params q, std::string message) {
    t.push_back(sbi_param_row(w, call, std::move(message), [w, q](sbi_engine& m) {
      return best_of_n(q).run(m, m, w.p, budget{}, w.stream);
    }));
  };
  bon_params("best_of_n: n = 0", best_of_n_params{.n = 0}, "n must be > 0");
  bon_params("best_of_n: an empty step delimiter", best_of_n_params{.step_delimiter = ""}, "step_delimiter");
  bon_params("best_of_n: a NaN temperature", best_of_n_params{.sampling = sampling_params{.temperature = sbi_nan}}, "temperature");
  bon_params("best_of_n: top_p = 0", best_of_n_params{.sampling = sampling_params{.top_p = 0.0}}, "top_p");
  bon_params("best_of_n: max_tokens = 0", best_of_n_params{.sampling = sampling_params{.max_tokens = 0}}, "max_tokens");
  bon_params("best_of_n: an empty stop string", best_of_n_params{.sampling = sampling_params{.stop = {""}}}, "stop");
  add_sampler_rows(t, w, "best_of_n", bon_go(best_of_n(best_of_n_params{.n = 4})));
  using orm_best_of_n = basic_best_of_n<select_weighted, orm_scorer, canonical_answer_key>;
  auto scored = [w](auto s) { return [w, s](auto& m, auto& r) { return s.run(m, r, w.p, budget{}, w.stream); }; };
  add_scorer_rows(t, w, "best_of_n (PRM)", "PRM", scored(best_of_n(best_of_n_params{.n = 4})), "score lists for");
  add_scorer_rows(t, w, "weighted best_of_n (ORM)", "ORM", scored(orm_best_of_n(best_of_n_params{.n = 4})), "scores for");

  // self-consistency
  auto sc_params = [&](const std::string& call, self_consistency_params q, std::string message) {
    t.push_back(sbi_param_row(w, call, std::move(message), [w, q](sbi_engine& m) {
      return self_consistency(q).run(m, w.p, budget{}, w.stream);
    }));
  };
  sc_params("self_consistency: n = 0", self_consistency_params{.n = 0}, "n must be > 0");
  sc_params("self_consistency: an infinite temperature",
            self_consistency_params{.sampling = sampling_params{.temperature = static_cast<float>(sbi_inf)}}, "temperature");
  sc_params("self_consistency: top_p above 1", self_consistency_params{.sampling = sampling_params{.top_p = 1.5}}, "top_p");
  add_sampler_rows(t, w, "self_consistency", [w](auto& m, const budget& b) {
    return self_consistency(self_consistency_params{.n = 4}).run(m, w.p, b, w.stream);
  });

  // DeepConf offline
  auto dc_params = [&](const std::string& call, deepconf_params q, std::string message) {
    t.push_back(sbi_param_row(w, call, std::move(message), [w, q](sbi_engine& m) {
      return deepconf_offline_strategy(q).run(m, w.p, budget{}, w.stream);
    }));
  };
  dc_params("deepconf: n = 0", deepconf_params{.n = 0}, "n must be > 0");
  dc_params("deepconf: top_k = 0", deepconf_params{.top_k = 0}, "top_k must be > 0");
  dc_params("deepconf: top_k above the model's 20", deepconf_params{.top_k = 21}, "top_k");
  dc_params("deepconf: window = 0", deepconf_params{.window = 0}, "window must be > 0");
  dc_params("deepconf: eta = 0", deepconf_params{.eta = 0.0}, "eta must be in (0, 100]");
  dc_params("deepconf: eta NaN", deepconf_params{.eta = sbi_nan}, "eta must be in (0, 100]");
  auto dc_go = [w](auto& m, const budget& b) { return deepconf_offline_strategy(deepconf_params{.n = 4}).run(m, w.p, b, w.stream); };
  add_sampler_rows(t, w, "deepconf offline", dc_go);
  add_logprob_rows(t, w, "deepconf offline", dc_go, errc::invalid_argument, "top-k logprobs must be <= 0 and not NaN");

  // free-energy fusion and ODAR
  auto fe_params = [&](const std::string& call, free_energy_fusion_params q, std::string message) {
    t.push_back(sbi_param_row(w, call, std::move(message), [w, q](sbi_engine& m) {
      return free_energy_fusion(q).run(m, w.p, budget{}, w.stream);
    }));
  };
  fe_params("free_energy_fusion: n = 0", free_energy_fusion_params{.n = 0}, "n must be > 0");
  fe_params("free_energy_fusion: lambda NaN", free_energy_fusion_params{.energy = {.lambda = sbi_nan}}, "lambda");
  fe_params("free_energy_fusion: lambda -1", free_energy_fusion_params{.energy = {.lambda = -1.0}}, "lambda");
  auto fe_go = [w](auto& m, const budget& b) { return free_energy_fusion(free_energy_fusion_params{.n = 4}).run(m, w.p, b, w.stream); };
  add_sampler_rows(t, w, "free_energy_fusion", fe_go);
  add_logprob_rows(t, w, "free_energy_fusion", fe_go, errc::engine_failure, "bad token statistics");
  auto od_params = [&](const std::string& call, odar_params q, std::string message) {
    t.push_back(sbi_param_row(w, call, std::move(message), [w, q](sbi_engine& m) {
      return odar(q).run(m, m, w.p, budget{}, w.stream);
    }));
  };
  od_params("odar: probe = 0", odar_params{.probe = 0}, "probe must be > 0");
  od_params("odar: slow_n = 0", odar_params{.slow_n = 0}, "slow_n must be > 0");
  od_params("odar: verify_votes = 0", odar_params{.verify_votes = 0}, "verify_votes must be > 0");
  od_params("odar: low above high", odar_params{.low = 0.8, .high = 0.2}, "low <= high");
  od_params("odar: a NaN low", odar_params{.low = sbi_nan}, "low <= high");
  od_params("odar: high above 1", odar_params{.high = 1.5}, "low <= high");
  od_params("odar: lambda inf", odar_params{.energy = {.lambda = sbi_inf}}, "lambda");
  auto od_go = [w](auto& m, const budget& b) { return odar(odar_params{}).run(m, m, w.p, b, w.stream); };
  add_sampler_rows(t, w, "odar (both agents)", od_go);
  add_logprob_rows(t, w, "odar", od_go, errc::engine_failure, "bad token statistics");
  t.push_back({"odar: the slow agent fails", errc::engine_failure, "sample failed", [w] {
                 // probe = 3 fast samples that disagree send the problem on to the slow agent.
                 sbi_engine fast(w.suite, sbi_faults{});
                 sbi_engine slow(w.suite, sbi_faults{.sample = {sbi_fault::fails, 1}});
                 auto r = odar(odar_params{.low = 0.0, .high = 0.0}).run(fast, slow, w.p, budget{}, w.stream);
                 return sbi_of(r, fast.live_sequences() == 0 && slow.live_sequences() == 0);
               }});

  // PRISM
  auto pr_params = [&](const std::string& call, prism_params q, std::string message) {
    t.push_back(sbi_param_row(w, call, std::move(message), [w, q](sbi_engine& m) {
      return prism(q).run(m, m, w.p, budget{}, w.stream);
    }));
  };
  pr_params("prism: n = 0", prism_params{.n = 0}, "n must be > 0");
  pr_params("prism: temperature 0", prism_params{.temperature = 0.0}, "temperature");
  pr_params("prism: temperature NaN", prism_params{.temperature = sbi_nan}, "temperature");
  pr_params("prism: ess_fraction above 1", prism_params{.ess_fraction = 1.5}, "ess_fraction");
  pr_params("prism: clone_cap 0", prism_params{.clone_cap = 0.0}, "clone_cap");
  pr_params("prism: new_approach NaN", prism_params{.new_approach = sbi_nan}, "new_approach");
  pr_params("prism: zero_score -1", prism_params{.zero_score = -1.0}, "zero_score");
  pr_params("prism: perfect_score 0", prism_params{.perfect_score = 0.0}, "perfect_score");
  pr_params("prism: an empty step delimiter", prism_params{.step_delimiter = ""}, "step_delimiter");
  add_sampler_rows(t, w, "prism", [w](auto& m, const budget& b) { return prism(prism_params{.n = 4}).run(m, m, w.p, b, w.stream); });
  add_scorer_rows(t, w, "prism", "PRM", scored(prism(prism_params{.n = 4})), "score lists for");

  // compute-optimal
  compute_optimal_table table{.budget = 4, .probe = 2, .edges = {}, .bins = {co_choice{.method = co_method::weighted_orm, .n = 4}}};
  auto co_table = [&](const std::string& call, compute_optimal_table bad, std::string message) {
    t.push_back(sbi_param_row(w, call, std::move(message), [w, bad](sbi_engine& m) {
      return compute_optimal(compute_optimal_params{.table = bad}).run(m, m, w.p, budget{}, w.stream);
    }));
  };
  auto bad_table = table;
  bad_table.probe = 0;
  co_table("compute_optimal: probe = 0", bad_table, "probe <= budget");
  bad_table = table;
  bad_table.probe = 5;
  co_table("compute_optimal: probe above budget", bad_table, "probe <= budget");
  bad_table = table;
  bad_table.edges = {0.5};
  co_table("compute_optimal: bins not edges + 1", bad_table, "bins must be edges + 1");
  bad_table = table;
  bad_table.edges = {sbi_nan};
  bad_table.bins.push_back(bad_table.bins.back());
  co_table("compute_optimal: a NaN edge", bad_table, "edges must be finite and ascending");
  bad_table = table;
  bad_table.edges = {0.6, 0.4};
  bad_table.bins = {table.bins[0], table.bins[0], table.bins[0]};
  co_table("compute_optimal: descending edges", bad_table, "edges must be finite and ascending");
  bad_table = table;
  bad_table.bins[0].n = 0;
  co_table("compute_optimal: a bin's n = 0", bad_table, "outside [1, budget]");
  bad_table = table;
  bad_table.bins[0].n = 5;
  co_table("compute_optimal: a bin's n above budget", bad_table, "outside [1, budget]");
  t.push_back(sbi_param_row(w, "compute_optimal: an empty step delimiter", "step_delimiter", [w, table](sbi_engine& m) {
    return compute_optimal(compute_optimal_params{.table = table, .step_delimiter = ""}).run(m, m, w.p, budget{}, w.stream);
  }));
  t.push_back(sbi_param_row(w, "compute_optimal: a PRM bin without a process reward model", "process reward model", [w, table](sbi_engine& m) {
    auto prm_table = table;
    prm_table.bins[0].method = co_method::best_prm;
    sbi_orm_only orm_only;
    return compute_optimal(compute_optimal_params{.table = prm_table}).run(m, orm_only, w.p, budget{}, w.stream);
  }));
  const compute_optimal co(compute_optimal_params{.table = table});
  add_sampler_rows(t, w, "compute_optimal", [w, co](auto& m, const budget& b) { return co.run(m, m, w.p, b, w.stream); });
  add_scorer_rows(t, w, "compute_optimal (weighted ORM bin)", "ORM", scored(co), "scores for");

  // sequential revisions (verifier mode: the model samples and revises, an ORM scores)
  auto sr_params = [&](const std::string& call, sequential_revisions_params q, std::string message) {
    t.push_back(sbi_param_row(w, call, std::move(message), [w, q](sbi_engine& m) {
      return sequential_revisions(q).run(m, m, w.p, budget{}, w.stream);
    }));
  };
  sr_params("sequential_revisions: chains = 0", sequential_revisions_params{.chains = 0}, "chains (P) must be > 0");
  sr_params("sequential_revisions: length = 0", sequential_revisions_params{.length = 0}, "length (L) must be > 0");
  sr_params("sequential_revisions: context = 0", sequential_revisions_params{.context = 0}, "context must be > 0");
  sr_params("sequential_revisions: chains x length past 32 bits", sequential_revisions_params{.chains = 1U << 16, .length = 1U << 16},
            "fit in 32 bits");
  sr_params("sequential_revisions: an empty step delimiter", sequential_revisions_params{.step_delimiter = ""}, "step_delimiter");
  sr_params("sequential_revisions: a NaN temperature",
            sequential_revisions_params{.sampling = sampling_params{.temperature = static_cast<float>(sbi_nan)}}, "temperature");
  t.push_back(sbi_param_row(w, "sequential_revisions (majority): chains = 0", "chains (P) must be > 0", [w](sbi_engine& m) {
    return majority_sequential_revisions(sequential_revisions_params{.chains = 0}).run(m, w.p, budget{}, w.stream);
  }));
  const sequential_revisions sr(sequential_revisions_params{.chains = 2, .length = 3});
  add_sampler_rows(t, w, "sequential_revisions", [w, sr](auto& m, const budget& b) { return sr.run(m, m, w.p, b, w.stream); });
  add_scorer_rows(t, w, "sequential_revisions", "ORM", scored(sr), "scores for");
  // The second revise round fails: the first round's revisions are already in the chains.
  auto sr_reviser = [w, sr](bool majority, sbi_fault f) {
    return [w, sr, majority, f] {
      sbi_engine m(w.suite, sbi_faults{.revise = {f, 2}});
      auto r = majority ? majority_sequential_revisions(sr.params()).run(m, w.p, budget{}, w.stream) : sr.run(m, m, w.p, budget{}, w.stream);
      return sbi_of(r, m.live_sequences() == 0);
    };
  };
  for (const bool majority : {false, true}) {
    const std::string name = majority ? "sequential_revisions (majority)" : "sequential_revisions";
    t.push_back({name + ": the reviser fails", errc::engine_failure, "revise failed", sr_reviser(majority, sbi_fault::fails)});
    t.push_back({name + ": the reviser throws", errc::engine_failure, "revise threw", sr_reviser(majority, sbi_fault::throws)});
    t.push_back({name + ": the reviser times out", errc::timeout, "revise timed out", sr_reviser(majority, sbi_fault::times_out)});
    t.push_back({name + ": the reviser returns a completion too few", errc::engine_failure, "completions for 2 requests",
                 sr_reviser(majority, sbi_fault::too_few)});
    t.push_back({name + ": the reviser returns a completion too many", errc::engine_failure, "completions for 2 requests",
                 sr_reviser(majority, sbi_fault::too_many)});
  }
  add_budget_rows(t, "sequential_revisions (majority)", [w](budget lim) {
    return [w, lim] {
      sbi_engine m(w.suite, sbi_faults{});
      auto r = majority_sequential_revisions(sequential_revisions_params{.chains = 2, .length = 3}).run(m, w.p, lim, w.stream);
      return sbi_of(r, m.live_sequences() == 0);
    };
  });
  walk_strategy_rows(t);
}

TEST_CASE("bad input: short-m@k, ZIP-RC and online DeepConf reject bad params, hostile engines and bad budgets",
          "[errors][strategy]") {
  const sbi_world w;
  std::vector<sbi_row> t;
  auto sm_params = [&](const std::string& call, short_m_at_k_params q, std::string message) {
    t.push_back(sbi_param_row(w, call, std::move(message), [w, q](sbi_engine& m) {
      return short_m_at_k(q).run(m, w.p, budget{}, w.stream);
    }));
  };
  sm_params("short_m_at_k: k = 0", short_m_at_k_params{.k = 0}, "k must be > 0");
  sm_params("short_m_at_k: m = 0", short_m_at_k_params{.m = 0}, "m must be in [1, k]");
  sm_params("short_m_at_k: m > k", short_m_at_k_params{.k = 2, .m = 3}, "m must be in [1, k]");
  sm_params("short_m_at_k: max_steps = 0", short_m_at_k_params{.max_steps = 0}, "max_steps must be > 0");
  const short_m_at_k sm(short_m_at_k_params{.k = 4, .m = 2});
  add_stepping_rows(t, w, "short_m_at_k (stepping)", [w, sm](auto& m, auto&, const budget& b) { return sm.run(m, w.p, b, w.stream); },
                    2, false);
  // A sampling-only model takes the whole-samples path.
  t.push_back({"short_m_at_k (whole samples): the sampler fails", errc::engine_failure, "the engine is down", [w, sm] {
                 test::failing_model m;
                 return sbi_of(sm.run(m, w.p, budget{}, w.stream), true);
               }});
  t.push_back({"short_m_at_k (whole samples): the sampler throws", errc::engine_failure, "segfault avoided", [w, sm] {
                 test::throwing_model m;
                 return sbi_of(sm.run(m, w.p, budget{}, w.stream), true);
               }});
  t.push_back({"short_m_at_k (whole samples): a completion too few", errc::engine_failure, "completions for a request of", [w, sm] {
                 test::short_model m;
                 return sbi_of(sm.run(m, w.p, budget{}, w.stream), true);
               }});
  t.push_back({"short_m_at_k (whole samples): a completion too many", errc::engine_failure, "completions for a request of", [w, sm] {
                 test::long_model m;
                 return sbi_of(sm.run(m, w.p, budget{}, w.stream), true);
               }});

  auto zr_params = [&](const std::string& call, zip_rc_params q, std::string message) {
    t.push_back(sbi_param_row(w, call, std::move(message), [w, q](sbi_engine& m) { return zip_rc(q).run(m, w.p, budget{}, w.stream); }));
  };
  zr_params("zip_rc: n = 0", zip_rc_params{.n = 0}, "n must be > 0");
  zr_params("zip_rc: initial = 0", zip_rc_params{.initial = 0}, "initial must be in [1, n]");
  zr_params("zip_rc: initial > n", zip_rc_params{.n = 2, .initial = 3}, "initial must be in [1, n]");
  zr_params("zip_rc: max_active = 0", zip_rc_params{.max_active = 0}, "max_active must be > 0");
  zr_params("zip_rc: alpha NaN", zip_rc_params{.alpha = sbi_nan}, "alpha and beta");
  zr_params("zip_rc: beta -1", zip_rc_params{.beta = -1.0}, "alpha and beta");
  zr_params("zip_rc: reference_tokens 0", zip_rc_params{.reference_tokens = 0.0}, "reference_tokens");
  zr_params("zip_rc: reference_tokens inf", zip_rc_params{.reference_tokens = sbi_inf}, "reference_tokens");
  zr_params("zip_rc: min_gain NaN", zip_rc_params{.min_gain = sbi_nan}, "min_gain");
  auto zr_go = [w](auto& m, const budget& b) { return zip_rc(zip_rc_params{.n = 8}).run(m, w.p, b, w.stream); };
  add_engine_rows(t, w, "zip_rc", zr_go, true, true);
  add_budget_rows(t, "zip_rc", [w, zr_go](budget lim) {
    return [w, zr_go, lim] {
      sbi_engine m(w.suite, sbi_faults{});
      return sbi_of(zr_go(m, lim), m.live_sequences() == 0);
    };
  });

  deepconf_params online{.n = 6, .n_init = 2, .batch = 2};
  online.window = 16;
  t.push_back(sbi_param_row(w, "deepconf online: n_init = 0", "n_init must be in [1, n]", [w, online](sbi_engine& m) {
    auto q = online;
    q.n_init = 0;
    return deepconf_online_strategy(q).run(m, w.p, budget{}, w.stream);
  }));
  t.push_back(sbi_param_row(w, "deepconf online: n_init > n", "n_init must be in [1, n]", [w, online](sbi_engine& m) {
    auto q = online;
    q.n_init = 7;
    return deepconf_online_strategy(q).run(m, w.p, budget{}, w.stream);
  }));
  t.push_back(sbi_param_row(w, "deepconf online: consensus 0", "consensus must be in (0, 1]", [w, online](sbi_engine& m) {
    auto q = online;
    q.consensus = 0.0;
    return deepconf_online_strategy(q).run(m, w.p, budget{}, w.stream);
  }));
  t.push_back(sbi_param_row(w, "deepconf online: batch = 0", "batch must be > 0", [w, online](sbi_engine& m) {
    auto q = online;
    q.batch = 0;
    return deepconf_online_strategy(q).run(m, w.p, budget{}, w.stream);
  }));
  t.push_back(sbi_param_row(w, "deepconf online: stop strings on a stepping model", "sampling.stop", [w, online](sbi_engine& m) {
    auto q = online;
    q.sampling.stop = {"###"};
    sbi_stepper stepper{m};
    return deepconf_online_strategy(q).run(stepper, w.p, budget{}, w.stream);
  }));
  // Online DeepConf forks nothing: each trace is begun.
  auto dco_go = [w, online](sbi_engine& m, const budget& b) {
    sbi_stepper stepper{m};
    return deepconf_online_strategy(online).run(stepper, w.p, b, w.stream);
  };
  add_engine_rows(t, w, "deepconf online (stepping)", dco_go, false, false);
  add_budget_rows(t, "deepconf online (stepping)", [w, dco_go](budget lim) {
    return [w, dco_go, lim] {
      sbi_engine m(w.suite, sbi_faults{});
      return sbi_of(dco_go(m, lim), m.live_sequences() == 0);
    };
  });
  for (const sbi_fault f : {sbi_fault::nan, sbi_fault::pos_inf})
    t.push_back({std::string("deepconf online (stepping): a ") + (f == sbi_fault::nan ? "NaN" : "+inf") + " logprob in a step",
                 errc::invalid_argument, "top-k logprobs must be <= 0 and not NaN", [w, dco_go, f] {
                   sbi_engine m(w.suite, sbi_faults{.extend = {f, 2}});
                   return sbi_of(dco_go(m, budget{}), m.live_sequences() == 0);
                 }});
  walk_strategy_rows(t);
}

TEST_CASE("bad input: SCALE rejects bad params, hostile engines, broken ratings and bad budgets", "[errors][strategy]") {
  const sbi_world w;
  std::vector<sbi_row> t;
  auto sc_params = [&](const std::string& call, scale_params q, std::string message) {
    t.push_back(sbi_param_row(w, call, std::move(message), [w, q](sbi_engine& m) { return scale(q).run(m, w.p, budget{}, w.stream); }));
  };
  sc_params("scale: tau NaN", scale_params{.tau = sbi_nan}, "tau must be in [0, 1]");
  sc_params("scale: tau 1.5", scale_params{.tau = 1.5}, "tau must be in [0, 1]");
  sc_params("scale: max_steps = 0", scale_params{.max_steps = 0}, "max_steps must be > 0");
  sc_params("scale: rating_reserve = 0", scale_params{.rating_reserve = 0}, "rating_reserve must be > 0");
  sc_params("scale: effort set by the caller", scale_params{.stepping = step_params{.effort = effort_level::deliberate}},
            "stepping.effort must be standard");
  auto sc_go = [w](auto& m, const budget& b) { return scale().run(m, w.p, b, w.stream); };
  add_engine_rows(t, w, "scale", sc_go, false, false);
  add_budget_rows(t, "scale", [w, sc_go](budget lim) {
    return [w, sc_go, lim] {
      sbi_engine m(w.suite, sbi_faults{});
      return sbi_of(sc_go(m, lim), m.live_sequences() == 0);
    };
  });
  walk_strategy_rows(t);
}
