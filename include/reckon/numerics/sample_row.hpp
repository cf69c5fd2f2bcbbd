// SPDX-License-Identifier: Apache-2.0
// Drawing a token from a logits row in the same pass that computes its statistics.
#pragma once

// What an adapter that samples on the host does per generated token: draw a token from
// softmax(x / T) (optionally within top-k or the top-p nucleus) and record the row's statistics.
// Done naively that is three passes over a 150k-float row (a log-sum-exp pass, an inverse CDF
// with one scalar exp per entry until the uniform is passed, then the statistics pass), plus a
// full sort of the vocabulary for top-p. Here it is one read of the row:
//
// - The statistics pass (numerics/token_stats.hpp) already sweeps the row block by block (4096
//   floats) and computes each block's weight s0_b = sum 2^((x - bm_b) k) in its own frame. The
//   sampler keeps those per-block weights (at the draw's temperature; when it differs from the
//   statistics' temperature a second sweep of s0 alone runs on the block while it is in L1), so
//   that W_b = s0_b 2^((bm_b - max) k) are the blocks' shares of the softmax mass.
// - The block holding u * sum W_b is found among the ~37 block weights, and only that block is
//   scanned element by element (the scalar twin of the SIMD exp2), stopping where the running sum
//   passes the target: the inverse CDF of the whole row in id order, one block of scalar work.
// - Greedy (T = 0) is the first maximum, found from the blocks' maxima and one block scan.
// - top-k: the k best (value, id) pairs come from the pass's partial selection (a bounded heap
//   fed by a SIMD threshold filter); the draw is among them. top-p: the nucleus is found among the
//   256 best candidates collected in the same pass and sorted (256 log 256, not V log V); only a
//   row so flat that 256 tokens hold less than top_p of its mass is read again: its tokens are
//   bucketed by value (2048 buckets, one pass), and only the bucket where the nucleus ends and the
//   one where the draw lands are sorted (two or three more passes, never a full sort).
//
// Exactness: the draw follows softmax(x / T) up to the polynomial exp2's relative error (<= 2e-7
// for the AVX2 kernel and the portable one built with FMA, 2.5e-7 for the portable one without,
// 3e-6 for AVX-512) and float lane sums; against an exact
// inverse CDF in long double with the same uniform it returns the same token except when the
// uniform falls within that rounding margin of a CDF boundary (measured in
// tests/numerics/sample_row_test.cpp: a fraction below 1e-4 of draws on LLM-like rows). The token
// is a function of (row, u, params, kernel) alone: never of a batch, a thread or an earlier call.
// Masked tokens (-inf) are never drawn.

#include <reckon/core/result.hpp>
#include <reckon/numerics/token_stats.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace reckon {

/// How one token is drawn from a logits row.
struct row_sampling_params {
  double temperature = 1.0; ///< T of the draw: p_v proportional to exp(x_v / T); finite and >= 0, 0 = greedy (the first maximum)
  double top_p = 1.0;       ///< nucleus: draw among the fewest most probable tokens whose mass reaches top_p, in (0, 1]
  std::uint32_t top_k = 0;  ///< draw among the k most probable tokens only (<= vocabulary; 0: all); with top_p, the nucleus is taken within them
};

/// A drawn token and the statistics of its row.
struct row_draw {
  std::size_t token = 0; ///< the drawn token's id
  row_stats stats;       ///< the row's statistics at the statistics temperature, `logprob` that of `token`
};

namespace detail {

/// Candidates collected in the statistics pass for a top-p nucleus (see the file comment).
inline constexpr std::size_t nucleus_candidates = 256;

/// One block as the sampler sees it: where it is, its maximum, and its weight at the draw's k in
/// the frame (x - bm) k + shift.
struct sampled_block {
  std::size_t offset = 0;
  std::size_t len = 0;
  float bm = 0.0f;
  double s0 = 0.0;
  double shift = 0.0;
};

/// s0 of a cached block at `k` with `which`'s kernel (frame (x - bm) k + shift).
inline double block_weight(kernel which, const float* x, std::size_t n, float bm, float k, double& shift) {
  shift = 0.0;
  switch (which) {
#if RECKON_TOKEN_STATS_X86
  case kernel::avx512: return block_sweep_avx512(x, n, bm, k, nullptr, 0, shift).s0;
  case kernel::avx2: return block_sweep_avx2(x, n, bm, k, nullptr, 0).s0;
#endif
  default: return block_sweep_portable(x, n, bm, k).s0;
  }
}

/// Offers a cached block to a top-k scan with `which`'s kernel.
inline void offer_block(kernel which, top_k_scan& scan, const float* x, std::size_t n, std::size_t offset) {
#if RECKON_TOKEN_STATS_X86
  if (which == kernel::avx512) return offer_avx512(scan, x, n, offset);
  if (which == kernel::avx2) return offer_avx2(scan, x, n, offset);
#endif
  scan.offer(x, n, offset);
}

/// Floats per chunk of the in-block search: chunks are summed by the SIMD sweep, and only the
/// chunk that holds the target is scanned element by element.
inline constexpr std::size_t scan_chunk_floats = 256;

/// The element of [x, x + n) where the running sum of 2^((x_i - bm) k) first passes `target`
/// (in the frame of bm); masked entries weigh 0. Rounding can leave the sum just short of a target
/// near the total: then the last unmasked element.
inline std::size_t scan_elements(const float* x, std::size_t n, float bm, float k, double target) {
  double running = 0.0;
  std::size_t last = 0;
  bool any = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] == -std::numeric_limits<float>::infinity()) continue;
    float v = (x[i] - bm) * k;
    v = v < exp2_floor ? exp2_floor : v;
    running += static_cast<double>(exp2_poly(v));
    last = i;
    any = true;
    if (target < running) return i;
  }
  return any ? last : n;
}

/// As scan_elements over a block, in two levels: the SIMD sweep sums chunks of
/// scan_chunk_floats until the one holding the target, which alone is scanned element by element.
inline std::size_t scan_block(kernel which, const float* x, std::size_t n, float bm, float k, double target) {
  double cum = 0.0;
  std::size_t fallback = n;
  for (std::size_t c = 0; c < n; c += scan_chunk_floats) {
    const std::size_t len = std::min(scan_chunk_floats, n - c);
    double shift = 0.0;
    const double w = block_weight(which, x + c, len, bm, k, shift) * std::exp2(-shift);
    // A chunk that is all -inf still weighs len * 2^-125 in the sweep: treat it as empty.
    if (w <= static_cast<double>(len) * 1e-37) continue;
    if (target < cum + w || c + len == n) {
      const std::size_t at = scan_elements(x + c, len, bm, k, target - cum);
      if (at < len) return c + at;
    } else {
      fallback = c; // the last chunk with weight, for a target rounded past the total
    }
    cum += w;
  }
  if (fallback < n) {
    const std::size_t len = std::min(scan_chunk_floats, n - fallback);
    const std::size_t at = scan_elements(x + fallback, len, bm, k, std::numeric_limits<double>::infinity());
    if (at < len) return fallback + at;
  }
  return 0;
}

/// The draw among `best` (sorted best first, ties by lower id): weights exp((x - x_best) / T)
/// restricted to top-k (`restricted`) or relative to the whole row's mass `row_mass` (in the same
/// units); nucleus by top_p. Returns nullopt when the candidates cannot cover the nucleus (the
/// caller widens them).
inline std::optional<std::size_t> draw_candidates(const std::vector<std::pair<float, std::size_t>>& best, double u,
                                                  double temperature, double top_p, bool restricted, double row_mass) {
  std::vector<double> w(best.size());
  double cand_mass = 0.0;
  for (std::size_t i = 0; i < best.size(); ++i) {
    w[i] = best[i].first == -std::numeric_limits<float>::infinity()
               ? 0.0
               : std::exp((static_cast<double>(best[i].first) - static_cast<double>(best[0].first)) / temperature);
    cand_mass += w[i];
  }
  const double z = restricted ? cand_mass : row_mass;
  std::size_t keep = best.size();
  double mass = cand_mass;
  if (top_p < 1.0) {
    mass = 0.0;
    for (keep = 0; keep < best.size();) {
      mass += w[keep];
      ++keep;
      if (mass >= top_p * z) break;
    }
    if (mass < top_p * z && !restricted) return std::nullopt; // the nucleus reaches past the candidates
  }
  const double target = u * mass;
  double running = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    running += w[i];
    if (target < running) return best[i].second;
  }
  for (std::size_t i = keep; i > 0; --i)
    if (w[i - 1] > 0.0) return best[i - 1].second;
  return best[0].second;
}

/// Buckets of the wide-nucleus search (see wide_nucleus).
inline constexpr std::size_t nucleus_buckets = 2048;

/// The nucleus draw on a row whose nucleus holds more tokens than the candidates (a flat row).
/// Tokens are bucketed by value into nucleus_buckets equal-width buckets below the maximum (one
/// pass: each bucket's weight 2^((x - max) k) and count); the buckets are summed from the top until
/// top_p of the mass, so only the bucket where the nucleus ends, and the one where the draw lands,
/// are sorted (by value, ties by lower id: the order of a full sort). Tokens more than 126 / k below
/// the maximum weigh under 2^-126 of it and are left out of the nucleus.
inline std::size_t wide_nucleus(std::span<const float> row, double u, float k, double top_p, float max) {
  const double span = 126.0 / static_cast<double>(k);
  const double per = static_cast<double>(nucleus_buckets) / span;
  auto bucket_of = [&](float x) -> std::size_t {
    const double d = (static_cast<double>(max) - static_cast<double>(x)) * per;
    return d >= static_cast<double>(nucleus_buckets) ? nucleus_buckets : static_cast<std::size_t>(d);
  };
  auto weight = [&](float x) {
    float v = (x - max) * k;
    v = v < exp2_floor ? exp2_floor : v;
    return static_cast<double>(exp2_poly(v));
  };
  std::vector<double> mass(nucleus_buckets, 0.0);
  double z = 0.0;
  for (const float x : row) {
    const std::size_t b = bucket_of(x); // -inf: past the last bucket
    if (b >= nucleus_buckets) continue;
    const double w = weight(x);
    mass[b] += w;
    z += w;
  }
  // The bucket where the nucleus ends, and the nucleus' mass.
  std::size_t end = 0;
  double above = 0.0;
  while (end + 1 < nucleus_buckets && above + mass[end] < top_p * z) above += mass[end++];
  auto sorted_bucket = [&](std::size_t b) {
    std::vector<std::pair<float, std::size_t>> items;
    for (std::size_t i = 0; i < row.size(); ++i)
      if (bucket_of(row[i]) == b) items.emplace_back(row[i], i);
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& c) { return a.first != c.first ? a.first > c.first : a.second < c.second; });
    return items;
  };
  const auto last = sorted_bucket(end);
  std::size_t keep = 0;
  double nucleus = above;
  while (keep < last.size()) {
    nucleus += weight(last[keep++].first);
    if (nucleus >= top_p * z) break;
  }
  // The draw: the bucket holding u * nucleus, then its sorted elements.
  const double target = u * nucleus;
  double cum = 0.0;
  std::size_t b = 0;
  while (b < end && !(target < cum + mass[b])) cum += mass[b++];
  const auto items = b == end ? last : sorted_bucket(b);
  const std::size_t limit = b == end ? keep : items.size();
  for (std::size_t i = 0; i < limit; ++i) {
    cum += weight(items[i].first);
    if (target < cum) return items[i].second;
  }
  return limit > 0 ? items[limit - 1].second : last.front().second;
}

/// The body of sample_row, with the kernel chosen by the caller (tests run each).
inline row_draw sample_row_impl(std::span<const float> row, double u, const row_sampling_params& draw,
                                const token_stats_params& stats, std::span<std::int32_t> top_ids,
                                std::span<float> top_logprobs, kernel which) {
  const char* who = "sample_row";
  require(!row.empty(), "sample_row: empty logits row");
  require(u >= 0.0 && u < 1.0, "sample_row: u must be in [0, 1)");
  require(std::isfinite(draw.temperature) && draw.temperature >= 0.0,
          "sample_row: the draw's temperature must be finite and >= 0 (0 means greedy)");
  require(draw.top_p > 0.0 && draw.top_p <= 1.0, "sample_row: top_p must be in (0, 1]");
  require(draw.top_k <= row.size(), "sample_row: top_k exceeds the vocabulary");
  require(kernel_available(which), "sample_row: the requested SIMD kernel does not run on this CPU");
  const kernel resolved = resolve_kernel(which);

  const double kd_exact = std::numbers::log2e / draw.temperature; // +inf at T = 0
  const bool greedy = !(kd_exact <= static_cast<double>(std::numeric_limits<float>::max()));
  const float kd = greedy ? 0.0f : std::max(static_cast<float>(kd_exact), std::numeric_limits<float>::min());
  const double ks_exact = std::numbers::log2e / stats.temperature;
  const bool stats_greedy = !(ks_exact <= static_cast<double>(std::numeric_limits<float>::max()));
  const float ks = stats_greedy ? 0.0f : std::max(static_cast<float>(ks_exact), std::numeric_limits<float>::min());
  const bool same_k = !stats_greedy && kd == ks;

  const bool by_candidates = !greedy && (draw.top_k > 0 || draw.top_p < 1.0);
  const bool need_blocks = !greedy && !(draw.top_k > 0); // plain draws, and a nucleus relative to the row's mass
  const std::size_t width = draw.top_k > 0 ? draw.top_k : std::min(row.size(), nucleus_candidates);
  top_k_scan candidates(by_candidates ? width : 0);
  std::vector<sampled_block> blocks;
  blocks.reserve(row.size() / block_floats + 1);
  float first_max = -std::numeric_limits<float>::infinity();
  std::size_t first_max_block = 0;

  auto hook = [&](const float* x, std::size_t len, std::size_t offset, float bm, const block_sums* sums, double shift) {
    if (by_candidates) offer_block(resolved, candidates, x, len, offset);
    if (bm == -std::numeric_limits<float>::infinity() || std::isnan(bm)) return; // masked block: no mass
    if (bm > first_max) first_max = bm, first_max_block = offset;
    if (!need_blocks) return;
    sampled_block rec{offset, len, bm, 0.0, 0.0};
    if (same_k && sums != nullptr) {
      rec.s0 = sums->s0;
      rec.shift = shift;
    } else {
      rec.s0 = block_weight(resolved, x, len, bm, kd, rec.shift);
    }
    blocks.push_back(rec);
  };
  row_draw out;
  out.stats = row_stats_impl(row, std::nullopt, stats, top_ids, top_logprobs, which, who, hook);

  if (greedy) {
    // The first maximum: the first block holding the row's maximum, scanned for its first hit.
    std::size_t at = first_max_block;
    const std::size_t end = std::min(row.size(), first_max_block + block_floats);
    while (at < end && !(row[at] == first_max)) ++at;
    out.token = at < end ? at : first_max_block;
  } else {
    double row_mass = 0.0; // in units of 2^((x - max) kd)
    std::vector<double> weights(blocks.size());
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      const auto& r = blocks[b];
      weights[b] = r.s0 * std::exp2((static_cast<double>(r.bm) - static_cast<double>(first_max)) * static_cast<double>(kd) - r.shift);
      row_mass += weights[b];
    }
    if (!by_candidates) {
      const double target = u * row_mass;
      double cum = 0.0;
      std::size_t b = 0;
      while (b + 1 < blocks.size() && !(target < cum + weights[b])) cum += weights[b++];
      // Skip blocks of no weight at the end (a target rounded past the last heavy block).
      while (b > 0 && weights[b] == 0.0) cum -= weights[--b];
      const auto& r = blocks[b];
      const double scale = std::exp2((static_cast<double>(r.bm) - static_cast<double>(first_max)) * static_cast<double>(kd));
      const double local = scale > 0.0 ? (target - cum) / scale : 0.0;
      out.token = r.offset + scan_block(resolved, row.data() + r.offset, r.len, r.bm, kd, local);
    } else {
      // Candidates' weights exp((x - x_best) / T) equal 2^((x - max) kd) up to rounding: the row
      // mass in the same units is row_mass.
      const auto got = draw_candidates(candidates.sorted(), u, draw.temperature, draw.top_p, draw.top_k > 0, row_mass);
      // A flat row: the nucleus holds more tokens than the candidates.
      out.token = got ? *got : wide_nucleus(row, u, kd, draw.top_p, first_max);
    }
  }

  const float x = row[out.token];
  if (x == -std::numeric_limits<float>::infinity()) out.stats.logprob = -std::numeric_limits<double>::infinity();
  else if (stats_greedy) out.stats.logprob = static_cast<double>(x) == out.stats.log_sum_exp ? -out.stats.entropy : -std::numeric_limits<double>::infinity();
  else out.stats.logprob = (static_cast<double>(x) - out.stats.log_sum_exp) / stats.temperature;
  return out;
}

} // namespace detail

/// Draws one token from a logits row and computes the row's statistics, in one pass over the row.
/// @param logits       the row, one float per vocabulary entry; -inf marks a masked token
/// @param u            the uniform in [0, 1) the draw inverts (e.g. reckon::uniform01 of the sequence's stream)
/// @param draw         the draw's temperature, top-p and top-k
/// @param stats        the statistics' temperature (1: the model's own distribution, what DeepConf
///                     and entropy-based strategies read), independent of the draw's
/// @param top_ids      empty, or k ids to receive the k most probable tokens (as token_row_stats)
/// @param top_logprobs empty, or their logprobs (same length as top_ids)
/// @returns the token and the statistics, `logprob` being the drawn token's
/// @throws reckon::exception (invalid_argument) for a row that is empty, holds a NaN or +inf, or is
///         all -inf; u outside [0, 1); a negative or non-finite temperature; top_p outside (0, 1];
///         top_k above the vocabulary; spans as token_row_stats.
[[nodiscard]] inline row_draw sample_row(std::span<const float> logits, double u, const row_sampling_params& draw = {},
                                         const token_stats_params& stats = {}, std::span<std::int32_t> top_ids = {},
                                         std::span<float> top_logprobs = {}) {
  return detail::sample_row_impl(logits, u, draw, stats, top_ids, top_logprobs, detail::kernel::automatic);
}

} // namespace reckon
