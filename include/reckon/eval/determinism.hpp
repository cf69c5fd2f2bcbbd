// SPDX-License-Identifier: Apache-2.0
// The reproducibility audit: the same seeded requests through an engine alone and inside batches.
#pragma once

// "Give Me FP32 or Give Me Death?" (Yuan et al. 2025): outputs change with batch size and hardware
// because floating-point addition is not associative. reckon's own draws never depend on the
// batch (every sequence has its own keyed stream), but an engine's logits may. This audit measures
// the engine's share: each request (a problem and a seed) is run once alone, then again inside a
// batch of other live sequences (requests decoded together in the same extend calls), optionally on
// a second engine (another thread count); per request it reports whether the text, the answer or
// the token count changed, the first step whose text differs and the first token whose logprob
// differs, and the largest chosen-token logprob difference before the texts part (the engine's
// numerical drift; logits themselves are not exposed by the stepping interface, so the chosen
// token's logprob stands for them). "Before the texts part" is known to step granularity: the
// stepping interface returns no token ids, so the drift is read over the steps both runs produced
// alike (same text and token count); inside the first differing step the tokens may already
// differ, and comparing their logprobs would report a different token's probability as drift.

#include <reckon/answer/pipeline.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace reckon::eval {

/// One request of the audit: a problem and the seed of its sequence's stream.
struct determinism_request {
  problem prob;
  std::uint64_t seed = 0;
};

/// How the audit runs.
struct determinism_params {
  step_params stepping{};   ///< each extend's parameters (stats.logprobs is forced on)
  std::uint32_t steps = 8;  ///< extends per request (fewer when the sequence finishes) (> 0)
  std::uint32_t batch = 8;  ///< requests decoded together in the batched run (> 1)
};

/// What one request's two runs gave.
struct determinism_row {
  std::uint64_t problem = 0;
  bool text_changed = false;
  bool answer_changed = false;
  bool tokens_changed = false;
  std::optional<std::size_t> first_divergent_token; ///< the first token whose logprob differs (or where one run ended)
  std::optional<std::size_t> first_divergent_step;  ///< the first step whose text or token count differs (or where one run ended)
  double max_logprob_diff = 0.0; ///< largest |logprob| difference over the steps both runs produced alike, before their texts part
};

/// The audit's result.
struct determinism_report {
  std::vector<determinism_row> rows;
  double text_changed = 0.0;    ///< fraction of requests whose text changed
  double answer_changed = 0.0;  ///< fraction whose extracted answer changed
  double tokens_changed = 0.0;  ///< fraction whose token count changed
  double numerics_changed = 0.0; ///< fraction with any logprob difference
  double max_logprob_diff = 0.0; ///< the largest over all requests
};

namespace detail {

/// One request's run: its step texts joined and its per-token logprobs.
struct audit_trace {
  std::string text;
  std::vector<float> logprob;
  std::uint32_t tokens = 0;
  std::vector<std::string> step_text;      // each step's text
  std::vector<std::uint32_t> step_tokens;  // each step's token count
  std::vector<std::size_t> step_logprobs;  // each step's logprob count
};

/// Runs `group` together on `engine` (one begin each, `steps` batched extends over the live ones).
template <stepping_model M>
result<std::vector<audit_trace>> run_group(M& engine, std::span<const determinism_request> group, const determinism_params& p) {
  std::vector<audit_trace> out(group.size());
  std::vector<typename M::sequence> seqs;
  std::vector<std::size_t> owner;
  std::vector<bool> live;
  auto release_all = [&] {
    for (std::size_t i = 0; i < seqs.size(); ++i)
      if (live[i]) engine.release(seqs[i]);
  };
  for (std::size_t i = 0; i < group.size(); ++i) {
    auto s = engine.begin(group[i].prob);
    if (!s) {
      release_all();
      return s.error();
    }
    seqs.push_back(*s);
    owner.push_back(i);
    live.push_back(true);
  }
  step_params sp = p.stepping;
  sp.stats.logprobs = true;
  std::vector<typename M::sequence> batch;
  std::vector<std::uint64_t> seeds;
  std::vector<std::size_t> at;
  for (std::uint32_t k = 0; k < p.steps; ++k) {
    batch.clear();
    seeds.clear();
    at.clear();
    for (std::size_t i = 0; i < seqs.size(); ++i)
      if (live[i]) {
        batch.push_back(seqs[i]);
        // The step's seed depends on the request and the step only, never on the batch.
        seeds.push_back(group[owner[i]].seed * 0x9E3779B97F4A7C15ULL + k);
        at.push_back(i);
      }
    if (batch.empty()) break;
    auto r = engine.extend(batch, sp, seeds);
    if (!r || r->steps.size() != batch.size()) {
      release_all();
      if (!r) return r.error();
      return fail(errc::engine_failure, "determinism audit: extend returned the wrong number of steps");
    }
    for (std::size_t j = 0; j < at.size(); ++j) {
      auto& t = out[owner[at[j]]];
      const step& st = r->steps[j];
      t.text += st.text;
      t.tokens += st.tokens;
      t.logprob.insert(t.logprob.end(), st.stats.logprob.begin(), st.stats.logprob.end());
      t.step_text.push_back(st.text);
      t.step_tokens.push_back(st.tokens);
      t.step_logprobs.push_back(st.stats.logprob.size());
      if (st.done) {
        engine.release(seqs[at[j]]);
        live[at[j]] = false;
      }
    }
  }
  release_all();
  return out;
}

inline determinism_row compare(std::uint64_t problem, const audit_trace& a, const audit_trace& b) {
  determinism_row row;
  row.problem = problem;
  row.text_changed = a.text != b.text;
  row.answer_changed = extract_answer_key(a.text) != extract_answer_key(b.text);
  row.tokens_changed = a.tokens != b.tokens;
  // The steps both runs produced alike: their tokens are shared, so their logprobs measure drift.
  const std::size_t steps = std::min(a.step_text.size(), b.step_text.size());
  std::size_t alike = 0, shared = 0;
  while (alike < steps && a.step_text[alike] == b.step_text[alike] && a.step_tokens[alike] == b.step_tokens[alike] &&
         a.step_logprobs[alike] == b.step_logprobs[alike])
    shared += a.step_logprobs[alike++];
  if (alike < std::max(a.step_text.size(), b.step_text.size())) row.first_divergent_step = alike;
  const std::size_t common = std::min(a.logprob.size(), b.logprob.size());
  for (std::size_t i = 0; i < common; ++i) {
    const double d = std::fabs(static_cast<double>(a.logprob[i]) - static_cast<double>(b.logprob[i]));
    if (!(d == 0.0) && !row.first_divergent_token) row.first_divergent_token = i;
    if (i < shared && std::isfinite(d)) row.max_logprob_diff = std::max(row.max_logprob_diff, d);
  }
  if (!row.first_divergent_token && a.logprob.size() != b.logprob.size()) row.first_divergent_token = common;
  return row;
}

} // namespace detail

/// Runs every request alone on `alone`, then in batches of params.batch on `batched` (the same
/// engine, or one built differently, e.g. with another thread count), and compares.
/// @returns the report, or invalid_argument (bad params, no requests), or an engine's error.
template <stepping_model A, stepping_model B>
result<determinism_report> audit_determinism(A& alone, B& batched, std::span<const determinism_request> requests,
                                             const determinism_params& params) {
  if (requests.empty()) return fail(errc::invalid_argument, "audit_determinism: no requests");
  if (params.steps == 0) return fail(errc::invalid_argument, "audit_determinism: steps must be > 0");
  if (params.batch < 2) return fail(errc::invalid_argument, "audit_determinism: batch must be > 1");
  if (auto ok = validate(params.stepping); !ok) return ok.error();
  std::vector<detail::audit_trace> single;
  for (const auto& r : requests) {
    auto t = detail::run_group(alone, std::span<const determinism_request>(&r, 1), params);
    if (!t) return t.error();
    single.push_back(std::move(t->front()));
  }
  determinism_report report;
  for (std::size_t first = 0; first < requests.size(); first += params.batch) {
    const std::size_t n = std::min<std::size_t>(params.batch, requests.size() - first);
    auto t = detail::run_group(batched, requests.subspan(first, n), params);
    if (!t) return t.error();
    for (std::size_t i = 0; i < n; ++i)
      report.rows.push_back(detail::compare(requests[first + i].prob.id, single[first + i], (*t)[i]));
  }
  const auto total = static_cast<double>(report.rows.size());
  for (const auto& row : report.rows) {
    report.text_changed += row.text_changed ? 1.0 / total : 0.0;
    report.answer_changed += row.answer_changed ? 1.0 / total : 0.0;
    report.tokens_changed += row.tokens_changed ? 1.0 / total : 0.0;
    report.numerics_changed += row.first_divergent_token ? 1.0 / total : 0.0;
    report.max_logprob_diff = std::max(report.max_logprob_diff, row.max_logprob_diff);
  }
  return report;
}

/// audit_determinism with one engine for both runs.
template <stepping_model M>
result<determinism_report> audit_determinism(M& engine, std::span<const determinism_request> requests,
                                             const determinism_params& params) {
  return audit_determinism(engine, engine, requests, params);
}

} // namespace reckon::eval
