// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the replay JSON Lines reader (reckon::testing::parse_replay) on any bytes, on
// each reward scale, strict and skipping incomplete problems. What it accepts must hold the file
// format's promises, the scales must agree with one another, and a replay_model over the data must
// serve every recorded sample of a problem exactly once, with rewards in [0, 1], then refuse.
#include <reckon/testing/replay_model.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace {

namespace rt = reckon::testing;

bool unit(double x) { return x >= 0.0 && x <= 1.0; }

void check_data(const rt::replay_data& data) {
  if (data.problems.empty()) std::abort(); // "holds no usable problem" is an error, not a value
  if (data.scale == rt::reward_scale::automatic) std::abort();
  const bool prob = data.scale == rt::reward_scale::prob;
  for (const auto& p : data.problems) {
    if (p.id.empty() || p.samples.empty() || p.line == 0) std::abort();
    for (const auto& s : p.samples) {
      if (s.reward && (!std::isfinite(*s.reward) || (prob && !unit(*s.reward)))) std::abort();
      for (const double r : s.step_rewards)
        if (!std::isfinite(r) || (prob && !unit(r))) std::abort();
      for (const float lp : s.token_logprobs)
        if (!(lp <= 0.0F) || !std::isfinite(lp)) std::abort();
      for (const float h : s.token_entropies)
        if (!(h >= 0.0F) || !std::isfinite(h)) std::abort();
      for (const float c : s.token_confidences)
        if (!(c >= 0.0F) || !std::isfinite(c)) std::abort();
      if (!s.step_rewards.empty() && !s.text) std::abort(); // step rewards always come with steps
    }
  }
}

// Draws every sample of the first problem in one call, scores each, then asks for one more.
void check_model(const std::shared_ptr<const rt::replay_data>& data) {
  rt::replay_model model(data, 7);
  const auto& q = data->problems.front();
  const reckon::problem p = q.as_problem();
  reckon::sampling_params sp;
  sp.stats.logprobs = true;
  sp.stats.entropy = true;
  const auto n = static_cast<std::uint32_t>(q.samples.size());
  auto batch = model.sample(p, sp, n);
  if (!batch || batch->completions.size() != n) std::abort();
  std::vector<bool> seen(n, false);
  for (const auto& c : batch->completions) {
    if (c.source >= n || seen[c.source]) std::abort(); // without replacement
    seen[c.source] = true;
    const reckon::solution_view view{{}, true, c.source};
    auto orm = model.score_outcomes(p, std::span(&view, 1));
    if (orm.has_value() != q.samples[c.source].reward.has_value()) std::abort();
    if (orm && (orm->size() != 1 || !unit(orm->front()))) std::abort(); // served on [0, 1], any scale
  }
  auto more = model.sample(p, sp, 1);
  if (more || more.error().code != reckon::errc::no_capacity) std::abort();
}

rt::replay_params with(rt::reward_scale scale, bool skip) {
  rt::replay_params params;
  params.scale = scale;
  params.skip_incomplete = skip;
  return params;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto strict = rt::parse_replay(text);
  auto lenient = rt::parse_replay(text, with(rt::reward_scale::automatic, true));
  auto prob = rt::parse_replay(text, with(rt::reward_scale::prob, true));
  auto logit = rt::parse_replay(text, with(rt::reward_scale::logit, true));
  for (const auto* r : {&strict, &lenient, &prob, &logit}) {
    if (*r) check_data(**r);
    else if (r->error().code != reckon::errc::invalid_argument || r->error().message.empty()) std::abort();
  }
  if (strict) {
    // A file read strictly has nothing to skip, and skipping changes nothing about it.
    if (!strict->skipped.empty() || !lenient || lenient->problems.size() != strict->problems.size()) std::abort();
  }
  // logit reads any finite reward, prob only [0, 1]; automatic is prob when it can be, else logit.
  if (lenient.has_value() != logit.has_value()) std::abort();
  if (prob && (!lenient || lenient->scale != rt::reward_scale::prob)) std::abort();
  if (lenient && lenient->scale == rt::reward_scale::logit && prob) std::abort();
  if (lenient) check_model(std::make_shared<const rt::replay_data>(std::move(*lenient)));
  if (logit) check_model(std::make_shared<const rt::replay_data>(std::move(*logit)));
  return 0;
}
