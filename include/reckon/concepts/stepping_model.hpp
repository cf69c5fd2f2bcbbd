// SPDX-License-Identifier: Apache-2.0
// stepping_model: live sequences as handles, forked (sharing their prefix) and extended a step at a time.
#pragma once

#include <reckon/concepts/model_traits.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <concepts>
#include <cstdint>
#include <span>

namespace reckon {

/// A model whose sequences live in the engine and grow one reasoning step at a time.
///
/// - `m.begin(problem)` -> `result<sequence>`: a new sequence holding the prompt. The prompt may be
///   prefilled lazily; its cost is reported by the call that processes it.
/// - `m.fork(seq)` -> `result<sequence>`: a copy that shares seq's prefix (KV) without
///   re-processing it; fails with `errc::no_capacity` when the engine has no free slot.
/// - `m.release(seq)` (noexcept): frees the sequence; its handle is invalid afterwards.
/// - `m.extend(seqs, params, seeds)` -> `result<step_batch>`: ONE batched call that appends one step
///   to each sequence (up to params.delimiter, EOS or a token cap); `seeds[i]` seeds sequence i's
///   sampler so that results do not depend on batch composition. `seqs` and `seeds` have the same
///   length; a sequence whose last step was `done` must not be extended.
///
/// Customization:
/// ```
/// struct my_engine {
///   using reckon_model_concept = reckon::stepping_model_tag;
///   using sequence = std::uint32_t;                       // any copyable, comparable handle
///   reckon::result<sequence> begin(const reckon::problem&);
///   reckon::result<sequence> fork(sequence);
///   void release(sequence) noexcept;
///   reckon::result<reckon::step_batch> extend(std::span<const sequence>, const reckon::step_params&,
///                                             std::span<const std::uint64_t> seeds);
/// };
/// ```
/// Cost: one engine call per extend, whatever the number of sequences; fork costs no prefill.
template <class M>
concept stepping_model =
    declares_capability<M, stepping_model_tag> && requires { typename M::sequence; } &&
    std::copyable<typename M::sequence> && std::equality_comparable<typename M::sequence> &&
    requires(M& m, const problem& p, typename M::sequence s, std::span<const typename M::sequence> seqs,
             const step_params& params, std::span<const std::uint64_t> seeds) {
      { m.begin(p) } -> std::same_as<result<typename M::sequence>>;
      { m.fork(s) } -> std::same_as<result<typename M::sequence>>;
      { m.release(s) } noexcept;
      { m.extend(seqs, params, seeds) } -> std::same_as<result<step_batch>>;
    };

/// A stepping model that can also drop the last n generated tokens of a sequence in place
/// (`m.rollback(seq, n)` -> `result<void>`), and says so in model_traits.
template <class M>
concept rollback_model = stepping_model<M> && model_traits<M>::supports_rollback &&
                         requires(M& m, typename M::sequence s, std::uint32_t n) {
                           { m.rollback(s, n) } -> std::same_as<result<void>>;
                         };

} // namespace reckon
