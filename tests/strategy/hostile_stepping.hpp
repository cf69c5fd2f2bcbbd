// SPDX-License-Identifier: Apache-2.0
// A stepping model that misbehaves on purpose, over the synthetic model, and audits every handle.
#pragma once

#include <reckon/concepts/stepping_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/testing/synthetic_model.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace reckon::test {

/// How a hostile_stepping model misbehaves (every mode off by default: it is then the synthetic model).
struct hostile_modes {
  static constexpr std::uint32_t never = std::numeric_limits<std::uint32_t>::max();
  std::uint32_t forks_before_failure = never; ///< the fork after this many successful forks fails (and every later one)
  errc fork_error = errc::engine_failure;     ///< ... with this code (no_capacity: a full engine)
  std::uint32_t fail_extend_at = never;       ///< the extend call with this 1-based number returns engine_failure
  std::uint32_t throw_extend_at = never;      ///< the extend call with this 1-based number throws std::runtime_error
  std::uint32_t short_extend_at = never;      ///< the extend call with this 1-based number returns one step too few
  bool never_done = false;                    ///< no step is ever done (after the synthetic path ends, filler steps follow)
  bool done_at_first_step = false;            ///< every sequence's first step finishes it
};

/// A stepping model over a testing::synthetic_model that can fail forks and extends, return too
/// few steps, never finish or finish at once (hostile_modes). It hands out its own handles, never
/// reused, so that it can count releases per handle: a second release of a handle is recorded
/// (and not passed on, so the inner engine's reused ids are never freed twice), as is a handle
/// still live at the end (a leak). Pass the inner model as the PRM: the steps are synthetic text
/// (filler steps too), so its PRM and answer key read them.
class hostile_stepping {
public:
  using reckon_model_concept = stepping_model_tag;
  using sequence = std::uint32_t;

  explicit hostile_stepping(testing::synthetic_model& inner, hostile_modes modes = {}) : inner_(inner), modes_(modes) {}

  result<sequence> begin(const problem& p) {
    auto s = inner_.begin(p);
    if (!s) return s.error();
    ++begins_;
    return add(*s);
  }

  result<sequence> fork(sequence parent) {
    const auto it = handles_.find(parent);
    if (it == handles_.end() || !it->second.live)
      return fail(errc::invalid_argument, fmt::format("hostile_stepping: fork of a handle that is not live ({})", parent));
    if (forks_ >= modes_.forks_before_failure) {
      ++failed_forks_;
      return fail(modes_.fork_error, "hostile_stepping: fork refused");
    }
    auto s = inner_.fork(it->second.inner);
    if (!s) return s.error();
    ++forks_;
    const handle_state from = it->second;
    const sequence id = add(*s);
    handles_[id].inner_done = from.inner_done;
    handles_[id].filler = from.filler;
    handles_[id].steps = from.steps;
    return id;
  }

  void release(sequence s) noexcept {
    ++release_calls_;
    const auto it = handles_.find(s);
    if (it == handles_.end()) {
      ++unknown_releases_;
      return;
    }
    ++it->second.releases;
    if (it->second.releases > 1) {
      ++double_releases_;
      return;
    }
    it->second.live = false;
    --live_;
    inner_.release(it->second.inner);
  }

  result<step_batch> extend(std::span<const sequence> seqs, const step_params& sp, std::span<const std::uint64_t> seeds) {
    ++extends_;
    if (extends_ == modes_.fail_extend_at) return fail(errc::engine_failure, "hostile_stepping: extend failed");
    if (extends_ == modes_.throw_extend_at) throw std::runtime_error("hostile_stepping: extend threw");
    for (const sequence s : seqs) {
      const auto it = handles_.find(s);
      if (it == handles_.end() || !it->second.live)
        return fail(errc::invalid_argument, fmt::format("hostile_stepping: extend of a handle that is not live ({})", s));
    }
    // Sequences the inner engine has finished (never_done) take filler steps here; the rest go to it.
    std::vector<sequence> inner_seqs;
    std::vector<std::uint64_t> inner_seeds;
    for (std::size_t i = 0; i < seqs.size(); ++i)
      if (!handles_[seqs[i]].inner_done) {
        inner_seqs.push_back(handles_[seqs[i]].inner);
        inner_seeds.push_back(seeds[i]);
      }
    step_batch inner_batch;
    if (!inner_seqs.empty()) {
      auto b = inner_.extend(inner_seqs, sp, inner_seeds);
      if (!b) return b.error();
      inner_batch = std::move(b.value());
    }
    step_batch out;
    out.usage = inner_batch.usage;
    out.usage.engine_calls = 1;
    std::size_t next_inner = 0;
    for (const sequence s : seqs) {
      handle_state& h = handles_[s];
      step st;
      if (h.inner_done) {
        ++h.filler;
        st.tokens = 1;
        st.text = reckon::detail::synth::format_tag({1000 + h.filler, 1, 0xF111E5ULL + h.filler, false, false, 0}) +
                  " Filler.\n\n";
        st.source = 0xF111E5ULL + h.filler;
        out.usage.generated_tokens += 1;
      } else {
        st = std::move(inner_batch.steps[next_inner++]);
      }
      ++h.steps;
      if (modes_.never_done) {
        if (st.done) h.inner_done = true;
        st.done = false;
        if (st.finish == finish_reason::eos) st.finish = finish_reason::step;
      }
      if (modes_.done_at_first_step && h.steps == 1) st.done = true;
      out.steps.push_back(std::move(st));
    }
    if (extends_ == modes_.short_extend_at && !out.steps.empty()) out.steps.pop_back();
    return out;
  }

  // ---- the audit ------------------------------------------------------------------------------
  [[nodiscard]] std::uint32_t begins() const noexcept { return begins_; }
  [[nodiscard]] std::uint32_t forks() const noexcept { return forks_; }
  [[nodiscard]] std::uint32_t failed_forks() const noexcept { return failed_forks_; }
  [[nodiscard]] std::uint32_t extends() const noexcept { return extends_; }
  /// Handles handed out (begins + successful forks).
  [[nodiscard]] std::size_t handles() const noexcept { return handles_.size(); }
  /// Handles alive now (not yet released): after a run, leaks.
  [[nodiscard]] std::size_t live() const noexcept { return live_; }
  /// Releases of a handle already released.
  [[nodiscard]] std::uint32_t double_releases() const noexcept { return double_releases_; }
  /// Releases of a handle this model never handed out.
  [[nodiscard]] std::uint32_t unknown_releases() const noexcept { return unknown_releases_; }
  /// Handles released exactly once.
  [[nodiscard]] std::size_t released_once() const noexcept {
    std::size_t n = 0;
    for (const auto& [id, h] : handles_) n += h.releases == 1 ? 1 : 0;
    return n;
  }
  /// How often handle `s` was released.
  [[nodiscard]] std::uint32_t releases_of(sequence s) const noexcept {
    const auto it = handles_.find(s);
    return it == handles_.end() ? 0 : it->second.releases;
  }
  /// True when every handle handed out was released exactly once and nothing else was released.
  [[nodiscard]] bool clean() const noexcept {
    return live_ == 0 && double_releases_ == 0 && unknown_releases_ == 0 && released_once() == handles_.size();
  }
  [[nodiscard]] testing::synthetic_model& inner() noexcept { return inner_; }
  [[nodiscard]] const testing::synthetic_model& inner() const noexcept { return inner_; }

private:
  struct handle_state {
    testing::synthetic_model::sequence inner = 0;
    bool live = true;
    bool inner_done = false;     // the inner sequence is finished (never_done: filler steps follow)
    std::uint32_t filler = 0;    // filler steps taken
    std::uint32_t steps = 0;     // steps taken by this handle's path (inherited by forks)
    std::uint32_t releases = 0;
  };

  sequence add(testing::synthetic_model::sequence inner) {
    const sequence id = next_id_++;
    handles_[id] = handle_state{inner, true, false, 0, 0, 0};
    ++live_;
    return id;
  }

  testing::synthetic_model& inner_;
  hostile_modes modes_;
  std::unordered_map<sequence, handle_state> handles_;
  sequence next_id_ = 1;
  std::size_t live_ = 0;
  std::uint32_t begins_ = 0, forks_ = 0, failed_forks_ = 0, extends_ = 0;
  std::uint32_t release_calls_ = 0, double_releases_ = 0, unknown_releases_ = 0;
};
static_assert(stepping_model<hostile_stepping>);

/// A hostile mode and the error a search run must return under it (nullopt: the run succeeds).
struct hostile_case {
  const char* name;
  hostile_modes modes;
  std::optional<errc> error;
};

/// The hostile modes a tree search (REBASE, ETS) is run against on a problem of about 6 steps at
/// width 8: forks failing early and late, a full engine, extends failing, throwing or short, paths
/// that never finish or finish at once.
inline std::vector<hostile_case> tree_search_hostile_cases() {
  return {
      {"fork fails after 9", {.forks_before_failure = 9}, errc::engine_failure},
      {"fork fails after 3 (at the start)", {.forks_before_failure = 3}, errc::engine_failure},
      {"fork no_capacity after 9", {.forks_before_failure = 9, .fork_error = errc::no_capacity}, std::nullopt},
      {"extend fails at 2", {.fail_extend_at = 2}, errc::engine_failure},
      {"extend throws at 3", {.throw_extend_at = 3}, errc::engine_failure},
      {"extend short at 2", {.short_extend_at = 2}, errc::engine_failure},
      {"never done", {.never_done = true}, std::nullopt},
      {"done at the first step", {.done_at_first_step = true}, std::nullopt},
  };
}

} // namespace reckon::test
