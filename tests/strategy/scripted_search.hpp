// SPDX-License-Identifier: Apache-2.0
// A scripted stepping model and PRM for the PRM-guided searches' tests: the script fixes the winner.
#pragma once

#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <support/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace reckon::test {

/// A stepping model and PRM whose paths follow a script. The root and its first forks (handles
/// 0, 1, ...) take labels[0], labels[1], ... (the last label beyond the list); later forks inherit
/// their parent's label. A label's path has one step per entry of its scores (5 tokens each); its
/// last step ends with "\boxed{answer}". The PRM scores step t of a path by its label's scores[t].
/// It counts forks and releases per handle, and the peak of live sequences.
struct scripted_search {
  using reckon_model_concept = capabilities<stepping_model_tag, process_reward_model_tag>;
  using sequence = std::uint32_t;
  struct script {
    std::string answer;
    std::vector<double> scores;
  };
  std::vector<script> scripts;
  std::vector<std::size_t> labels;
  struct seq_state {
    std::size_t label = 0;
    std::size_t steps = 0;
    std::uint32_t releases = 0;
    sequence parent = 0;
  };
  std::vector<seq_state> seqs{};
  std::size_t live = 0, peak = 0;
  std::uint32_t slow_extend = 0; ///< the extend call with this 1-based number takes 300 ms (0: none)
  std::uint32_t extends = 0;

  result<sequence> begin(const problem&) { return add(labels.empty() ? 0 : labels[0], 0, 0); }
  result<sequence> fork(sequence parent) {
    const seq_state from = seqs.at(parent);
    REQUIRE(from.releases == 0);
    const std::size_t id = seqs.size();
    const std::size_t label = from.steps == 0 ? labels[std::min(id, labels.size() - 1)] : from.label;
    return add(label, from.steps, parent);
  }
  void release(sequence s) noexcept {
    if (s < seqs.size() && seqs[s].releases++ == 0) --live;
  }
  result<step_batch> extend(std::span<const sequence> ss, const step_params&, std::span<const std::uint64_t>) {
    if (++extends == slow_extend) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    step_batch out;
    for (const sequence s : ss) {
      seq_state& q = seqs.at(s);
      const script& sc = scripts.at(q.label);
      ++q.steps;
      step st;
      st.tokens = 5;
      st.done = q.steps >= sc.scores.size();
      st.text = fmt::format("<{} {}>", q.label, q.steps) + (st.done ? fmt::format(" \\boxed{{{}}}", sc.answer) : " ");
      st.finish = st.done ? finish_reason::eos : finish_reason::step;
      out.usage.generated_tokens += st.tokens;
      out.steps.push_back(std::move(st));
    }
    out.usage.engine_calls = 1;
    return out;
  }
  result<std::vector<std::vector<double>>> score_steps(const problem&, std::span<const solution_view> c) const {
    std::vector<std::vector<double>> out;
    for (const auto& v : c) {
      std::size_t label = 0;
      std::sscanf(v.steps.front().c_str(), "<%zu", &label);
      const auto& sc = scripts.at(label).scores;
      out.emplace_back(sc.begin(), sc.begin() + static_cast<std::ptrdiff_t>(v.steps.size()));
    }
    return out;
  }
  /// Every handle handed out was released exactly once.
  [[nodiscard]] bool clean() const {
    for (const auto& q : seqs)
      if (q.releases != 1) return false;
    return live == 0;
  }
  /// Forks of handle `s`.
  [[nodiscard]] std::size_t forks_of(sequence s) const {
    std::size_t n = 0;
    for (std::size_t i = 1; i < seqs.size(); ++i) n += seqs[i].parent == s ? 1 : 0;
    return n;
  }

private:
  result<sequence> add(std::size_t label, std::size_t steps, sequence parent) {
    seqs.push_back(seq_state{label, steps, 0, parent});
    ++live;
    peak = std::max(peak, live);
    return static_cast<sequence>(seqs.size() - 1);
  }
};

} // namespace reckon::test
