// SPDX-License-Identifier: Apache-2.0
// The bad-input matrix of the building blocks (issue 19 item 5): per area, a table of inputs each
// public entry point must reject and the error it gets, walked by one test case. A row passes when
// the call throws reckon::exception with the row's code and a message naming the row's cause.
#include <errors/bad_input_table.hpp>
#include <support/catch.hpp>

#include <reckon/aggregate/length_filter.hpp>
#include <reckon/aggregate/reduce.hpp>
#include <reckon/aggregate/vote.hpp>
#include <reckon/answer/equal.hpp>
#include <reckon/answer/regex_extractor.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/ledger.hpp>
#include <reckon/core/result.hpp>
#include <reckon/numerics/sample_row.hpp>
#include <reckon/numerics/token_stats.hpp>
#include <reckon/numerics/topk_stats.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/resample/multinomial.hpp>
#include <reckon/resample/resampler.hpp>
#include <reckon/resample/residual.hpp>
#include <reckon/resample/stratified.hpp>
#include <reckon/resample/systematic.hpp>
#include <reckon/resample/trigger.hpp>
#include <reckon/resample/weights.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr double nan_d = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_d = std::numeric_limits<double>::infinity();
constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_f = std::numeric_limits<float>::infinity();

using reckon::test::bad_input_row;
using reckon::test::walk_bad_inputs;

// Every resampling scheme gets the same bad weights and the same n = 0.
template <class R>
void add_scheme_rows(std::vector<bad_input_row>& t, const std::string& name, R scheme) {
  auto draw = [scheme](std::vector<double> w, std::size_t n) {
    reckon::random_stream rng(19, 5);
    std::vector<std::size_t> out(n);
    scheme(std::span<const double>(w), std::span<std::size_t>(out), rng);
  };
  t.push_back({name + ": no weights", "no weights", [=] { draw({}, 2); }});
  t.push_back({name + ": a NaN weight", "finite", [=] { draw({1.0, nan_d}, 2); }});
  t.push_back({name + ": an infinite weight", "finite", [=] { draw({inf_d, 1.0}, 2); }});
  t.push_back({name + ": a negative weight", ">= 0", [=] { draw({1.0, -0.5}, 2); }});
  t.push_back({name + ": all weights zero", "all zero", [=] { draw({0.0, 0.0}, 2); }});
  t.push_back({name + ": weights whose sum overflows", "overflows", [=] { draw({1e308, 1e308}, 2); }});
  t.push_back({name + ": n = 0 offspring", "n = 0", [=] { draw({1.0, 2.0}, 0); }});
}

} // namespace

TEST_CASE("bad input: resamplers, weights and triggers reject bad weights and sizes", "[errors][resample]") {
  std::vector<bad_input_row> t;
  add_scheme_rows(t, "multinomial_resampler", reckon::multinomial_resampler{});
  add_scheme_rows(t, "systematic_resampler", reckon::systematic_resampler{});
  add_scheme_rows(t, "stratified_resampler", reckon::stratified_resampler{});
  add_scheme_rows(t, "residual_resampler", reckon::residual_resampler{});
  auto norm = [](std::vector<double> w, std::size_t out_size) {
    std::vector<double> out(out_size);
    reckon::normalise_weights(w, out);
  };
  auto norm_log = [](std::vector<double> l, std::size_t out_size) {
    std::vector<double> out(out_size);
    (void)reckon::normalise_log_weights(l, out);
  };
  t.push_back({"normalise_weights: output of another length", "differ in length", [=] { norm({1.0, 2.0}, 3); }});
  t.push_back({"normalise_weights: a NaN weight", "finite", [=] { norm({nan_d}, 1); }});
  t.push_back({"normalise_weights: no weights", "no weights", [=] { norm({}, 0); }});
  t.push_back({"normalise_log_weights: no weights", "no weights", [=] { norm_log({}, 0); }});
  t.push_back({"normalise_log_weights: output of another length", "differ in length", [=] { norm_log({0.0}, 2); }});
  t.push_back({"normalise_log_weights: a NaN log-weight", "NaN", [=] { norm_log({0.0, nan_d}, 2); }});
  t.push_back({"normalise_log_weights: a +inf log-weight", "+inf", [=] { norm_log({0.0, inf_d}, 2); }});
  t.push_back({"normalise_log_weights: all log-weights -inf", "all log-weights are -inf", [=] { norm_log({-inf_d, -inf_d}, 2); }});
  t.push_back({"effective_sample_size: a negative weight", ">= 0",
               [] { (void)reckon::effective_sample_size(std::vector<double>{1.0, -1.0}); }});
  t.push_back({"effective_sample_size_log: a NaN log-weight", "NaN",
               [] { (void)reckon::effective_sample_size_log(std::vector<double>{nan_d}); }});
  t.push_back({"resample_log_weights: all log-weights -inf", "all log-weights are -inf", [] {
                 reckon::random_stream rng(19, 6);
                 (void)reckon::resample_log_weights(reckon::systematic_resampler{}, std::vector<double>{-inf_d}, 2, rng);
               }});
  t.push_back({"resample_log_weights: n = 0", "n = 0", [] {
                 reckon::random_stream rng(19, 6);
                 (void)reckon::resample_log_weights(reckon::systematic_resampler{}, std::vector<double>{0.0, -1.0}, 0, rng);
               }});
  t.push_back({"resample (runtime scheme): a NaN weight", "finite", [] {
                 reckon::random_stream rng(19, 7);
                 const std::vector<double> w{nan_d, 1.0};
                 std::vector<std::size_t> out(2);
                 reckon::resample(reckon::resampling_scheme::residual, w, out, rng);
               }});
  t.push_back({"ess_below: fraction above 1", "fraction must be in [0, 1]",
               [] { (void)reckon::ess_below{1.5}(std::vector<double>{1.0, 1.0}); }});
  t.push_back({"ess_below: NaN fraction", "fraction must be in [0, 1]",
               [] { (void)reckon::ess_below{nan_d}(std::vector<double>{1.0, 1.0}); }});
  t.push_back({"ess_below: no weights", "no weights", [] { (void)reckon::ess_below{0.5}(std::vector<double>{}); }});
  t.push_back({"always_resample: an infinite weight", "finite",
               [] { (void)reckon::always_resample{}(std::vector<double>{inf_d}); }});
  walk_bad_inputs(t);
}

TEST_CASE("bad input: votes and step reductions reject bad weights, scores and lengths", "[errors][aggregate]") {
  using answer = std::optional<std::string>;
  const std::vector<answer> two{answer("1"), answer("2")};
  std::vector<bad_input_row> t;
  t.push_back({"vote_counter::add: a NaN weight", "finite and >= 0", [] { reckon::vote_counter{}.add("1", nan_d); }});
  t.push_back({"vote_counter::add: an infinite weight", "finite and >= 0", [] { reckon::vote_counter{}.add("1", inf_d); }});
  t.push_back({"vote_counter::add: a negative weight", "finite and >= 0", [] { reckon::vote_counter{}.add("1", -1.0); }});
  t.push_back({"weighted_vote: fewer weights than answers", "differ in length",
               [=] { (void)reckon::weighted_vote(two, std::vector<double>{1.0}); }});
  t.push_back({"weighted_vote: a NaN weight", "finite and >= 0",
               [=] { (void)reckon::weighted_vote(two, std::vector<double>{1.0, nan_d}); }});
  t.push_back({"weighted_vote: a -inf weight", "finite and >= 0",
               [=] { (void)reckon::weighted_vote(two, std::vector<double>{-inf_d, 1.0}); }});
  t.push_back({"length_filtered_vote: fewer lengths than answers", "differ in length", [=] {
                 const std::vector<std::uint32_t> lengths{3};
                 (void)reckon::length_filtered_vote(std::span<const answer>(two), std::span<const std::uint32_t>(lengths));
               }});
  for (const double keep : {0.0, -0.5, 1.5, nan_d, inf_d})
    t.push_back({"length_filtered_vote: keep = " + std::to_string(keep), "keep must be in (0, 1]", [=] {
                   const std::vector<std::uint32_t> lengths{3, 4};
                   (void)reckon::length_filtered_vote(std::span<const answer>(two), std::span<const std::uint32_t>(lengths),
                                                      {.keep = keep});
                 }});
  for (const auto r : {reckon::step_reduction::last, reckon::step_reduction::min, reckon::step_reduction::prod,
                       reckon::step_reduction::mean}) {
    const std::string name = "reduce_steps(" + std::string(reckon::to_string(r)) + "): ";
    t.push_back({name + "no step scores", "no step scores", [=] { (void)reckon::reduce_steps(r, {}); }});
    t.push_back({name + "a NaN score", "[0, 1]", [=] { (void)reckon::reduce_steps(r, std::vector<double>{0.5, nan_d}); }});
    t.push_back({name + "a score above 1", "[0, 1]", [=] { (void)reckon::reduce_steps(r, std::vector<double>{1.5}); }});
    t.push_back({name + "a negative score", "[0, 1]", [=] { (void)reckon::reduce_steps(r, std::vector<double>{-0.1, 0.5}); }});
    t.push_back({name + "an infinite score", "[0, 1]", [=] { (void)reckon::reduce_steps(r, std::vector<double>{inf_d}); }});
  }
  t.push_back({"reduce_log_prod: no step scores", "no step scores", [] { (void)reckon::reduce_log_prod{}({}); }});
  walk_bad_inputs(t);
}

TEST_CASE("bad input: budgets reject a NaN or negative wall-time limit", "[errors][budget]") {
  // The ledger holds counters and takes no input it could reject; the budget's limits are checked
  // when they are read.
  const reckon::ledger spent{};
  std::vector<bad_input_row> t;
  for (const double wall : {nan_d, -1.0, -inf_d}) {
    reckon::budget b;
    b.max_wall_seconds = wall;
    const std::string value = std::to_string(wall);
    t.push_back({"budget::check: max_wall_seconds = " + value, "max_wall_seconds must be >= 0", [=] { (void)b.check(spent); }});
    t.push_back({"budget::check_reward_call: max_wall_seconds = " + value, "max_wall_seconds must be >= 0",
                 [=] { (void)b.check_reward_call(spent); }});
  }
  walk_bad_inputs(t);
}

TEST_CASE("bad input: token statistics and row sampling reject bad logits and parameters", "[errors][numerics]") {
  const std::vector<float> ok{0.0F, 1.0F, 2.0F};
  std::vector<bad_input_row> t;
  auto stats = [](std::vector<float> row, std::optional<std::size_t> chosen, double temperature) {
    (void)reckon::token_row_stats(row, chosen, {.temperature = temperature});
  };
  t.push_back({"token_row_stats: an empty row", "empty logits row", [=] { stats({}, std::nullopt, 1.0); }});
  t.push_back({"token_row_stats: a NaN logit", "is NaN", [=] { stats({0.0F, nan_f}, std::nullopt, 1.0); }});
  t.push_back({"token_row_stats: a +inf logit", "is +inf", [=] { stats({inf_f, 0.0F}, std::nullopt, 1.0); }});
  t.push_back({"token_row_stats: every logit -inf", "every logit is -inf", [=] { stats({-inf_f, -inf_f}, std::nullopt, 1.0); }});
  t.push_back({"token_row_stats: a negative temperature", "temperature", [=] { stats(ok, std::nullopt, -1.0); }});
  t.push_back({"token_row_stats: a NaN temperature", "temperature", [=] { stats(ok, std::nullopt, nan_d); }});
  t.push_back({"token_row_stats: an infinite temperature", "temperature", [=] { stats(ok, std::nullopt, inf_d); }});
  t.push_back({"token_row_stats: chosen id past the vocabulary", "out of range", [=] { stats(ok, 3, 1.0); }});
  t.push_back({"token_row_stats: top-k wider than the vocabulary", "larger than the vocabulary", [=] {
                 std::vector<std::int32_t> ids(4);
                 std::vector<float> lps(4);
                 (void)reckon::token_row_stats(ok, std::nullopt, {}, ids, lps);
               }});
  t.push_back({"token_row_stats: top ids and logprobs of different lengths", "differ in length", [=] {
                 std::vector<std::int32_t> ids(2);
                 std::vector<float> lps(1);
                 (void)reckon::token_row_stats(ok, std::nullopt, {}, ids, lps);
               }});
  auto batch = [](std::vector<float> logits, std::size_t vocab, std::vector<std::int32_t> chosen, std::size_t rows) {
    std::vector<reckon::row_stats> out(rows);
    reckon::token_stats_batch(logits, vocab, chosen, out);
  };
  t.push_back({"token_stats_batch: vocab = 0", "vocab must be > 0", [=] { batch({}, 0, {}, 1); }});
  t.push_back({"token_stats_batch: logits not rows x vocab", "logits.size()", [=] { batch({0.0F, 1.0F, 2.0F}, 2, {}, 2); }});
  t.push_back({"token_stats_batch: chosen ids for another row count", "chosen must be empty or one id per row",
               [=] { batch({0.0F, 1.0F, 2.0F, 3.0F}, 2, {0}, 2); }});
  t.push_back({"token_stats_batch: a negative chosen id", "negative chosen token id",
               [=] { batch({0.0F, 1.0F}, 2, {-1}, 1); }});
  t.push_back({"token_stats_batch: a NaN logit in row 1", "is NaN", [=] { batch({0.0F, 1.0F, nan_f, 0.0F}, 2, {}, 2); }});
  auto topk = [](std::optional<double> chosen, std::vector<float> row, reckon::topk_stats_params p) {
    (void)reckon::topk_row_stats(chosen, row, p);
  };
  t.push_back({"topk_row_stats: no top-k logprobs", "no top-k logprobs", [=] { topk(std::nullopt, {}, {}); }});
  t.push_back({"topk_row_stats: a NaN logprob", "is NaN", [=] { topk(std::nullopt, {-0.5F, nan_f}, {}); }});
  t.push_back({"topk_row_stats: a +inf logprob", "is positive", [=] { topk(std::nullopt, {inf_f}, {}); }});
  t.push_back({"topk_row_stats: a positive logprob", "is positive", [=] { topk(std::nullopt, {0.5F}, {}); }});
  t.push_back({"topk_row_stats: probabilities summing past 1", "sum past 1", [=] { topk(std::nullopt, {-0.1F, -0.2F}, {}); }});
  t.push_back({"topk_row_stats: every logprob -inf", "every top-k logprob is -inf", [=] { topk(std::nullopt, {-inf_f}, {}); }});
  t.push_back({"topk_row_stats: a NaN chosen logprob", "chosen", [=] { topk(nan_d, {-0.5F}, {}); }});
  t.push_back({"topk_row_stats: a positive chosen logprob", "chosen", [=] { topk(0.5, {-0.5F}, {}); }});
  t.push_back({"topk_row_stats: spread tail with vocab <= k", "vocab > k",
               [=] { topk(std::nullopt, {-0.5F, -1.5F}, {.tail = reckon::tail_model::spread, .vocab = 2}); }});
  t.push_back({"topk_row_stats: a NaN sum tolerance", "sum_tolerance",
               [=] { topk(std::nullopt, {-0.5F}, {.sum_tolerance = nan_d}); }});
  auto draw = [](std::vector<float> row, double u, reckon::row_sampling_params p) { (void)reckon::sample_row(row, u, p); };
  t.push_back({"sample_row: an empty row", "empty logits row", [=] { draw({}, 0.5, {}); }});
  t.push_back({"sample_row: a NaN logit", "NaN", [=] { draw({nan_f, 0.0F}, 0.5, {}); }});
  t.push_back({"sample_row: a +inf logit", "+inf", [=] { draw({0.0F, inf_f}, 0.5, {}); }});
  t.push_back({"sample_row: every logit -inf", "-inf", [=] { draw({-inf_f, -inf_f}, 0.5, {}); }});
  t.push_back({"sample_row: u = 1", "u must be in [0, 1)", [=] { draw(ok, 1.0, {}); }});
  t.push_back({"sample_row: u < 0", "u must be in [0, 1)", [=] { draw(ok, -0.1, {}); }});
  t.push_back({"sample_row: a NaN u", "u must be in [0, 1)", [=] { draw(ok, nan_d, {}); }});
  t.push_back({"sample_row: a negative temperature", "temperature", [=] { draw(ok, 0.5, {.temperature = -1.0}); }});
  t.push_back({"sample_row: an infinite temperature", "temperature", [=] { draw(ok, 0.5, {.temperature = inf_d}); }});
  t.push_back({"sample_row: top_p = 0", "top_p must be in (0, 1]", [=] { draw(ok, 0.5, {.top_p = 0.0}); }});
  t.push_back({"sample_row: top_p above 1", "top_p must be in (0, 1]", [=] { draw(ok, 0.5, {.top_p = 1.5}); }});
  t.push_back({"sample_row: a NaN top_p", "top_p must be in (0, 1]", [=] { draw(ok, 0.5, {.top_p = nan_d}); }});
  t.push_back({"sample_row: top_k past the vocabulary", "top_k exceeds the vocabulary", [=] { draw(ok, 0.5, {.top_k = 4}); }});
  walk_bad_inputs(t);
}

TEST_CASE("bad input: the answer pipeline rejects bad tolerances and bad patterns", "[errors][answer]") {
  // Answer texts are outside input: any bytes are an answer or no answer, never an error (the
  // fuzz targets check that); what a caller configures is what can be wrong.
  std::vector<bad_input_row> t;
  for (const double tol : {-1e-9, nan_d, inf_d}) {
    const std::string value = std::to_string(tol);
    t.push_back({"answers_equal(text, text): tolerance " + value, "tolerance must be finite and >= 0",
                 [=] { (void)reckon::answers_equal("1/2", "0.5", tol); }});
    t.push_back({"answers_equal(canonical, canonical): tolerance " + value, "tolerance must be finite and >= 0",
                 [=] { (void)reckon::answers_equal(reckon::canonicalize("1"), reckon::canonicalize("1"), tol); }});
  }
  t.push_back({"regex_extractor: a pattern that does not compile", "bad pattern",
               [] { (void)reckon::regex_extractor("answer: ([0-9]+"); }});
  walk_bad_inputs(t);
}
