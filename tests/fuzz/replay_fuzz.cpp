// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the replay JSON Lines reader (reckon::testing::parse_replay) on any bytes, both
// strict and skipping incomplete problems; what it accepts must hold the file format's promises,
// and a replay_model over it must serve every recorded sample exactly once, then refuse.
#include <reckon/testing/replay_model.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

namespace {

void check_data(const reckon::testing::replay_data& data) {
  if (data.problems.empty()) std::abort(); // "holds no usable problem" is an error, not a value
  for (const auto& p : data.problems) {
    if (p.id.empty() || p.samples.empty() || p.line == 0) std::abort();
    for (const auto& s : p.samples) {
      if (s.reward && !(*s.reward >= 0.0 && *s.reward <= 1.0)) std::abort();
      for (const double r : s.step_rewards)
        if (!(r >= 0.0 && r <= 1.0)) std::abort();
      for (const float lp : s.token_logprobs)
        if (!(lp <= 0.0F)) std::abort();
      for (const float h : s.token_entropies)
        if (!(h >= 0.0F)) std::abort();
      if (!s.step_rewards.empty() && !s.text) std::abort(); // step rewards always come with steps
    }
  }
}

// Draws every sample of the first problem, one call, checks the rewards come back, then one more.
void check_model(const std::shared_ptr<const reckon::testing::replay_data>& data) {
  reckon::testing::replay_model model(data, 7);
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
  }
  auto more = model.sample(p, sp, 1);
  if (more || more.error().code != reckon::errc::no_capacity) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto strict = reckon::testing::parse_replay(text);
  auto lenient = reckon::testing::parse_replay(text, {.skip_incomplete = true});
  if (strict) {
    check_data(*strict);
    // A file read strictly has nothing to skip, and skipping changes nothing about it.
    if (!strict->skipped.empty() || !lenient || lenient->problems.size() != strict->problems.size()) std::abort();
  }
  if (lenient) {
    check_data(*lenient);
    check_model(std::make_shared<const reckon::testing::replay_data>(std::move(*lenient)));
  } else if (lenient.error().code != reckon::errc::invalid_argument) {
    std::abort();
  }
  return 0;
}
